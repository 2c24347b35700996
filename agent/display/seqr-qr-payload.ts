/**
 * What the machine's SEQR QR code encodes (seqr-protocol §2): `HTTP://SEQR.SE/000/ups?w=<merchantId>&t=<machine id>`,
 * byte-exact. The prefix is upper case like every SEQR code (it fits QR alphanumeric mode); `ups`, `w` and `t` are
 * lower case as in the UPS document. Apart from qr.ts, so that the screen model has it without loading the QR encoder.
 */

/** The charset both ids are restricted to (IC's purchaseToken rule); nothing in the URL then needs escaping. */
const qrIdPattern = /^[A-Za-z0-9._-]{1,32}$/;

export function seqrQrPayload(merchantId: string, machineId: string): string {
  if (!qrIdPattern.test(merchantId))
    throw new RangeError(`merchantId ${JSON.stringify(merchantId)} is not [A-Za-z0-9._-]{1,32}`);
  if (!qrIdPattern.test(machineId))
    throw new RangeError(`machine id ${JSON.stringify(machineId)} is not [A-Za-z0-9._-]{1,32}`);
  return `HTTP://SEQR.SE/000/ups?w=${merchantId}&t=${machineId}`;
}
