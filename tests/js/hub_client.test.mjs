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
console.log("ok");
