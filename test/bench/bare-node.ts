// A reference point between nginx and the server: plain node:http answering the same feed bytes from
// memory (no framework, no database), with the same validators and headers. It shows how much of
// the gap to nginx is Node itself and how much is our stack.
// Usage: node test/bench/bare-node.ts <port> <body file> <gzip file> <etag> <last-modified>
import { readFileSync } from "node:fs";
import http from "node:http";

const [port, file, gzFile, etag, lastModified] = process.argv.slice(2) as [string, string, string, string, string];
const body = readFileSync(file);
const gz = readFileSync(gzFile);
const gzEtag = etag.replace(/"$/, '-gz"');
const common = {
  "cache-control": "private, max-age=300",
  vary: "Accept-Encoding",
  "last-modified": lastModified,
  "referrer-policy": "no-referrer",
  "x-robots-tag": "noindex",
};

http
  .createServer((req, res) => {
    const gzip = /\bgzip\b/.test(req.headers["accept-encoding"] ?? "");
    const inm = req.headers["if-none-match"];
    if (inm === etag || inm === gzEtag) {
      res.writeHead(304, { ...common, etag: gzip ? gzEtag : etag });
      res.end();
      return;
    }
    res.writeHead(200, {
      ...common,
      etag: gzip ? gzEtag : etag,
      "content-type": "text/calendar; charset=utf-8",
      ...(gzip ? { "content-encoding": "gzip" } : {}),
      "content-length": String(gzip ? gz.length : body.length),
    });
    res.end(gzip ? gz : body);
  })
  .listen(Number(port), "127.0.0.1", () => process.stdout.write("ready\n"));
