/** Process exit codes, sysexits-style, so that systemd units and scripts can tell failures apart. */
export const ExitCode = {
  ok: 0,
  /** A check failed (doctor, mqtt check, config check found nothing wrong with the file but the link is down). */
  failure: 1,
  /** Wrong command line. */
  usage: 2,
  /** A required service is unavailable (broker, serial port). EX_UNAVAILABLE. */
  unavailable: 69,
  /** Internal software error. EX_SOFTWARE. */
  software: 70,
  /** Configuration error. EX_CONFIG: systemd's RestartPreventExitStatus can name it so a bad file does not loop. */
  config: 78,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];
