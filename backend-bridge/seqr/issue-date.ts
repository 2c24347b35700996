/**
 * SEQR's issueDate (seqr-protocol.md §6): local date-time without zone, as SEQR's own plugins send it, e.g.
 * 2015-12-25T12:34:56. One invoice keeps the issueDate of its sendInvoice on every updateInvoice.
 */
export function seqrIssueDate(epochMs: number): string {
  const date = new Date(epochMs);
  const pad = (value: number) => String(value).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}
