// Rendered on the server by the adapter-node build (`node build`).
export function load() {
  return { at: new Date().toISOString() };
}
