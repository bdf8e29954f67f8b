// The hardware identities a machine is known by (a MAC, its SMBIOS UUID and serial), as they come
// from iPXE, an agent or an operator. Firmware often reports placeholders that many machines share
// ("To Be Filled By O.E.M.", an all-zero UUID): those name no machine, so fleet neither records
// them nor matches boot requests by them.

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** UUIDs firmware fills in when it has none of its own (the last one ships with many AMI boards). */
const PLACEHOLDER_UUIDS = new Set(['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '03000200-0400-0500-0006-000700080009']);

/** Serials firmware fills in when the vendor did not (compared in lower case). */
const PLACEHOLDER_SERIALS = new Set([
  'to be filled by o.e.m.',
  'to be filled by oem',
  'default string',
  'default',
  'system serial number',
  'chassis serial number',
  'base board serial number',
  'serial number',
  'not specified',
  'not applicable',
  'not available',
  'unknown',
  'none',
  'null',
  'n/a',
  'na',
  'oem',
  'o.e.m.',
  'empty',
  'invalid',
  '0123456789',
  '123456789',
  '1234567890',
]);

/** Normalises a MAC written with colons, dashes or iPXE's hexhyp, any case; '' when it is not one. */
export function normalizeMac(text: string): string {
  const mac = text.trim().toLowerCase().replaceAll('-', ':');
  return MAC.test(mac) ? mac : '';
}

/** True for a UUID or serial that many machines report (see the lists above). */
export function isPlaceholder(kind: 'uuid' | 'serial', text: string): boolean {
  const value = text.trim().toLowerCase();
  if (kind === 'uuid') return PLACEHOLDER_UUIDS.has(value);
  return PLACEHOLDER_SERIALS.has(value) || value.includes('o.e.m') || /^[\s0._-]*$/.test(value) || /^x+$/.test(value);
}

/** An SMBIOS UUID in lower case, or '' when it is not a UUID or is a placeholder. */
export function usableUuid(text: string): string {
  const uuid = text.trim().toLowerCase();
  return UUID.test(uuid) && !isPlaceholder('uuid', uuid) ? uuid : '';
}

/** A serial number, trimmed, or '' when it is empty, unprintable, over 128 characters or a placeholder. */
export function usableSerial(text: string): string {
  const serial = text.trim();
  return /^[\x20-\x7e]{1,128}$/.test(serial) && !isPlaceholder('serial', serial) ? serial : '';
}
