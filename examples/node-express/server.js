// app-deployer example: the platform sets PORT; 3000 is for running it by hand.
const express = require("express");

const app = express();
const port = process.env.PORT || 3000;

app.get("/", (req, res) => {
  res.type("text/plain").send("Hello from node-express\n");
});

const server = app.listen(port, () => {
  console.log(`node-express listening on ${port}`);
});

// Stop promptly when the container is stopped.
process.on("SIGTERM", () => server.close(() => process.exit(0)));
