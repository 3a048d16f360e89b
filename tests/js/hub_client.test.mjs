// The real @huggingface/hub client against a running Hangar:
//   node hub_client.test.mjs HUB_URL TOKEN
// Prints "ok" on success; throws (exit 1) otherwise.
import assert from "node:assert/strict";
import { createRepo, deleteRepo, downloadFile, listFiles, spaceInfo, uploadFiles, whoAmI } from "@huggingface/hub";

const [hubUrl, accessToken] = process.argv.slice(2);
const repo = { type: "space", name: "admin/js-demo" };
const common = { hubUrl, accessToken };

const me = await whoAmI(common);
assert.equal(me.name, "admin");

const created = await createRepo({ ...common, repo, sdk: "static" });
assert.ok(created.repoUrl.endsWith("/spaces/admin/js-demo"), created.repoUrl);

await uploadFiles({
  ...common,
  repo,
  commitTitle: "from @huggingface/hub",
  files: [
    { path: "index.html", content: new Blob(["<h1>hello from js</h1>\n"]) },
    { path: "assets/data.json", content: new Blob([JSON.stringify({ a: 1 })]) },
  ],
});

const names = [];
for await (const entry of listFiles({ ...common, repo, recursive: true })) {
  if (entry.type === "file") names.push(entry.path);
}
names.sort();
assert.deepEqual(names, [".gitattributes", "assets/data.json", "index.html"].filter((n) => names.includes(n)));
assert.ok(names.includes("index.html") && names.includes("assets/data.json"), names.join(","));

const blob = await downloadFile({ ...common, repo, path: "index.html" });
assert.equal(await blob.text(), "<h1>hello from js</h1>\n");

const info = await spaceInfo({ ...common, name: repo.name });
assert.equal(info.name, "admin/js-demo");
assert.equal(info.sdk, "static");

await deleteRepo({ ...common, repo });

// createRepo's files become the space's first commit.
const seeded = { type: "space", name: "admin/js-seeded" };
await createRepo({
  ...common,
  repo: seeded,
  sdk: "static",
  files: [
    { path: "index.html", content: new Blob(["<p>seeded</p>\n"]) },
    { path: "img/pixel.bin", content: new Uint8Array([0, 255, 1, 254]) },
  ],
});
const seededNames = [];
for await (const entry of listFiles({ ...common, repo: seeded, recursive: true })) {
  if (entry.type === "file") seededNames.push(entry.path);
}
assert.ok(seededNames.includes("index.html") && seededNames.includes("img/pixel.bin"), seededNames.join(","));
assert.equal(await (await downloadFile({ ...common, repo: seeded, path: "index.html" })).text(), "<p>seeded</p>\n");
const pixel = new Uint8Array(await (await downloadFile({ ...common, repo: seeded, path: "img/pixel.bin" })).arrayBuffer());
assert.deepEqual([...pixel], [0, 255, 1, 254]);

// A bad path is refused and no space is left behind.
await assert.rejects(
  createRepo({ ...common, repo: { type: "space", name: "admin/js-bad" }, sdk: "static", files: [{ path: "../x", content: new Blob(["x"]) }] }),
  /path|\.\./,
);
await assert.rejects(spaceInfo({ ...common, name: "admin/js-bad" }));
await deleteRepo({ ...common, repo: seeded });
console.log("ok");
