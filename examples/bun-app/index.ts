// A Bun app with no start script: the platform runs `bun index.ts`.
import isNumber from "is-number";

const port = Number(process.env.PORT ?? 3000);

Bun.serve({
  port,
  hostname: "0.0.0.0",
  fetch() {
    const ok: boolean = isNumber(port);
    return new Response(`Hello from bun-app (bun ${Bun.version}, port ok: ${ok})\n`);
  },
});
console.log(`listening on ${port}`);
