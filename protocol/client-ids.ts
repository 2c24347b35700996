/**
 * MQTT client ids. A broker drops the older of two sessions with the same client id, so a machine logs in as itself
 * (client id = machine id) and a diagnosis of that machine (`doctor`, `mqtt check`) logs in with the same credentials
 * under its own id, `<machineId>:<tool>:<pid>`, so that it never knocks the running agent offline. ':' is not allowed
 * in a machine id, so one machine's diagnostic id can never be another machine's own id.
 */
export function diagnosticClientId(machineId: string, tool: "doctor" | "check", pid = process.pid): string {
  return `${machineId}:${tool}:${pid}`;
}

/** Whether `clientId` may log in with `machineId`'s credentials: the machine itself, or a diagnosis of it. */
export function isClientIdOf(clientId: string, machineId: string): boolean {
  return clientId === machineId || clientId.startsWith(`${machineId}:`);
}
