/** The console's only style sheet, served by the bridge itself (no CDN, no web font: the sites may have no internet). */
export const consoleCss = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f7f9; }
header { display: flex; gap: 1.5em; align-items: center; padding: .6em 1.2em; background: #12324a; color: #fff; }
header nav { display: flex; gap: 1em; flex: 1; }
header a { color: #dbe9f5; text-decoration: none; }
header a:hover { text-decoration: underline; }
header form.logout { display: flex; gap: .6em; align-items: center; }
main { padding: 1em 1.5em; }
h1 { font-size: 1.35em; margin: .2em 0 .8em; }
h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; background: #fff; width: 100%; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #e1e4e8; vertical-align: top; }
th { background: #eef1f4; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.online { color: #17803d; font-weight: 600; }
.offline { color: #b3261e; font-weight: 600; }
.flag { display: inline-block; background: #fde7c2; color: #7a4b00; border-radius: 3px; padding: 0 .4em; margin-right: .3em; }
.resolved { background: #dff3e4; color: #17603a; }
form.filters { display: flex; flex-wrap: wrap; gap: .8em; align-items: end; margin-bottom: 1em; }
form.filters label { display: flex; flex-direction: column; font-size: .9em; }
.card { background: #fff; border: 1px solid #e1e4e8; padding: 1em; margin-bottom: 1em; max-width: 40em; }
.error { color: #b3261e; }
#refund-form label { display: block; margin-bottom: .6em; }
.refund-done { background: #dff3e4; color: #17603a; padding: .5em .8em; }
.refund-refused { background: #fbe4e2; color: #8c1d18; padding: .5em .8em; }
.refund-unknown { background: #fde7c2; color: #7a4b00; padding: .5em .8em; }
.placeholder { border: 1px dashed #9aa4ae; padding: .8em; color: #5a6570; }
textarea { width: 100%; min-height: 4em; }
pre { white-space: pre-wrap; margin: 0; font-size: .9em; }
a.alarm-banner { background: #b3261e; color: #fff; font-weight: 600; border-radius: 3px; padding: .15em .6em; }
table.alarms tr { background: #fdecea; }
tr.differs td { background: #fff4d6; }
tr.differs td.machine-price { color: #7a4b00; font-weight: 600; }
.status { border-radius: 3px; padding: 0 .4em; }
.status.confirmed { background: #dff3e4; color: #17603a; }
.status.pushed { background: #e3edf9; color: #12324a; }
.status.unconfirmed { background: #fde7c2; color: #7a4b00; }
`;

/** The tab's icon, so the browser does not ask for /favicon.ico (a 404 outside the console). */
export const consoleIcon =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#12324a"/>' +
  '<rect x="4" y="3" width="8" height="10" rx="1" fill="#dbe9f5"/></svg>';
