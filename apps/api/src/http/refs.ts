const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** References in request bodies accept an id or a name. */
export function idOrName(value: string): { id: string } | { name: string } {
  return UUID.test(value) ? { id: value.toLowerCase() } : { name: value };
}

export function isUuid(value: string): boolean {
  return UUID.test(value);
}
