/**
 * The explorer in a real browser: Debian's chromium driven by playwright-core against
 * `sigframe serve`. Values are read off the page and compared with what the core (and the CLI)
 * compute for the same input; screenshots go to test-results/ for a look.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { builtinProfile } from "../../src/core/profiles/detect.ts";
import { buildFrame, emptyState, setRegister } from "../../src/core/sigframe/index.ts";
import { computeLayout } from "../../src/core/xsave/layout.ts";
import { type RunningServer, startServer } from "../../src/node/serve.ts";
import { builtinList } from "../../web/src/model.ts";
import { compelDumpLog, criuImages } from "../helpers/criu-checkpoint.ts";
import { elfCore, simulate } from "../helpers/process-core.ts";
import { FIXTURES, needs, REPO_ROOT } from "../helpers/shared.ts";
import { tarOf } from "../helpers/tar.ts";
import { buildApp, CHROMIUM, CHROMIUM_ARGS, needsChromium, sfIn } from "./helpers.ts";

const skip = needsChromium();
const SHOTS = join(REPO_ROOT, "test-results");
let srv: RunningServer;
let browser: Browser;
let page: Page;
let files: string;
/** Requests the page made to anything but the server. */
const foreign: string[] = [];
/** Uncaught errors and console errors of the page. */
const pageErrors: string[] = [];

before(async () => {
  if (skip.skip) return;
  files = mkdtempSync(join(tmpdir(), "sigframe-web-files-"));
  mkdirSync(SHOTS, { recursive: true });
  srv = await startServer({ root: buildApp(), port: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await ctx.route("**/*", (route) => {
    const u = route.request().url();
    if (u.startsWith(srv.url) || u.startsWith("data:")) return route.continue();
    foreign.push(u);
    return route.abort();
  });
  page = await ctx.newPage();
  page.setDefaultTimeout(10_000);
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => {
    // Bad input is logged by the page on purpose; anything else at error level is a bug.
    if (
      m.type() === "error" &&
      !/SigframeError|InvalidDataError|UsageError|TruncatedInputError/.test(m.text())
    )
      pageErrors.push(m.text());
  });
  await page.goto(srv.url);
});

after(async () => {
  await browser?.close();
  await srv?.close();
  if (files) rmSync(files, { recursive: true, force: true });
});

async function tab(name: string): Promise<void> {
  await page.getByRole("tab", { name }).click();
  await page.getByRole("tabpanel", { name }).waitFor();
}

function panel(name: string) {
  return page.getByRole("tabpanel", { name });
}

async function cell(scope: ReturnType<typeof panel>, component: string, col: string): Promise<string> {
  return (
    (await scope.locator(`tr[data-component="${component}"] [data-col="${col}"]`).textContent())?.trim() ?? ""
  );
}

test("layout view: OPMASK offset and user_size as the core computes them", skip, async () => {
  await tab("Layout");
  const view = panel("Layout");
  const seen: Record<string, { opmask: number; userSize: number }> = {};
  for (const name of ["intel-icelake-server", "amd-zen5"]) {
    await view.getByLabel("CPU profile").selectOption(name);
    await view.locator("h3", { hasText: `${name}:` }).waitFor();
    const l = computeLayout(builtinProfile(name));
    const opmask = l.components.find((c) => c.name === "OPMASK")!;
    const shown = {
      opmask: Number(await cell(view, "OPMASK", "offset")),
      userSize: Number(await view.locator('[data-field="userSize"]').textContent()),
    };
    assert.deepEqual(shown, { opmask: opmask.offset, userSize: l.userSize }, name);
    // Every row of the table is the core's component, in order.
    const rows = await view
      .locator("table.components tbody tr")
      .evaluateAll((trs) =>
        trs.map((tr) => [
          tr.getAttribute("data-component"),
          tr.querySelector('[data-col="offset"]')?.textContent,
        ]),
      );
    assert.deepEqual(
      rows,
      l.components.map((c) => [c.name, c.supervisor ? "-" : String(c.offset)]),
    );
    assert.equal(await view.locator("svg.bytemap").count(), 1);
    // The byte map explains its colours and has an offset axis reaching user_size.
    const legend = await view.locator("svg.bytemap .legend .legend-item").allTextContents();
    for (const c of l.components.filter((x) => x.enabled && x.size > 0))
      assert.ok(legend.includes(`${c.bit} ${c.name}`), `${c.name} in ${legend.join(", ")}`);
    const ticks = (await view
      .locator("svg.bytemap .axis .tick")
      .evaluateAll((ts) => ts.map((t) => Number(t.getAttribute("data-offset"))))) as number[];
    assert.ok(ticks.length >= 4 && ticks[0] === 0, ticks.join());
    assert.ok(Math.max(...ticks) + (ticks[1]! - ticks[0]!) > l.userSize, ticks.join());
    seen[name] = shown;
  }
  // The two vendors place AVX-512 state differently; the page must show that.
  assert.notEqual(seen["intel-icelake-server"]!.opmask, seen["amd-zen5"]!.opmask);
  assert.notEqual(seen["intel-icelake-server"]!.userSize, seen["amd-zen5"]!.userSize);
  await page.screenshot({ path: join(SHOTS, "web-layout.png"), fullPage: true });
});

test("diff view: the two layouts side by side, as 'sigframe diff' reports them", skip, async () => {
  await tab("Diff");
  const view = panel("Diff");
  await view.getByLabel("A", { exact: true }).selectOption("intel-icelake-server");
  await view.getByLabel("B", { exact: true }).selectOption("amd-zen5");
  const a = computeLayout(builtinProfile("intel-icelake-server"));
  const b = computeLayout(builtinProfile("amd-zen5"));
  const oa = a.components.find((c) => c.name === "OPMASK")!;
  const ob = b.components.find((c) => c.name === "OPMASK")!;
  assert.equal(await cell(view, "OPMASK", "a"), `${oa.offset}+${oa.size}`);
  assert.equal(await cell(view, "OPMASK", "b"), `${ob.offset}+${ob.size}`);
  assert.equal(await cell(view, "OPMASK", "status"), "different offset");
  assert.equal(
    Number(await view.locator('[data-side="a"] [data-field="userSize"]').textContent()),
    a.userSize,
  );
  assert.equal(
    Number(await view.locator('[data-side="b"] [data-field="userSize"]').textContent()),
    b.userSize,
  );
  const cli = await sfIn(tmpdir(), ["diff", "intel-icelake-server", "amd-zen5"]);
  assert.equal(await view.getByTestId("diff-summary").textContent(), cli.out.trimEnd().split("\n").pop());
  await page.screenshot({ path: join(SHOTS, "web-diff.png"), fullPage: true });
});

/** A DataTransfer holding one file, made in the page (for drop events). */
function dropData(name: string, bytes: Uint8Array) {
  return page.evaluateHandle(
    `(() => { const d = new DataTransfer(); d.items.add(new File([new Uint8Array(${JSON.stringify([...bytes])})], ${JSON.stringify(name)})); return d; })()`,
  );
}

test("profiles from real files, dropped or opened, give the CLI's layouts (cpuid -r, cpuinfo.img)", {
  skip: skip.skip ?? needs(FIXTURES, "fixtures").skip,
}, async () => {
  await tab("Diff");
  const view = panel("Diff");
  const img = join(FIXTURES, "criu", "S1", "cpuinfo.img");
  await view.getByLabel("Load file…").first().setInputFiles(img);
  await view.locator("select option:checked", { hasText: "cpuinfo.img" }).waitFor({ state: "attached" });
  const cliA = JSON.parse((await sfIn(files, ["layout", img, "--json"])).out);
  assert.equal(
    Number(await view.locator('[data-side="a"] [data-field="userSize"]').textContent()),
    cliA.userSize,
  );
  const dump = spawnSync("cpuid", ["-r", "-1"], { encoding: "utf8" });
  if (dump.status !== 0 || dump.error) return; // Debian's cpuid is not installed: the image is enough
  const name = "this-host.cpuid";
  writeFileSync(join(files, name), dump.stdout);
  await view
    .locator(".picker")
    .nth(1)
    .dispatchEvent("drop", { dataTransfer: await dropData(name, new TextEncoder().encode(dump.stdout)) });
  await view.locator("select option:checked", { hasText: name }).waitFor({ state: "attached" });
  const cliB = JSON.parse((await sfIn(files, ["layout", name, "--json"])).out);
  assert.equal(
    Number(await view.locator('[data-side="b"] [data-field="userSize"]').textContent()),
    cliB.userSize,
  );
  const cliDiff = await sfIn(files, ["diff", img, name]);
  assert.equal(await view.getByTestId("diff-summary").textContent(), cliDiff.out.trimEnd().split("\n").pop());
});

test("a file that is not a profile: the CLI's error line, and the page stays usable", skip, async () => {
  await tab("Layout");
  const view = panel("Layout");
  const bad = join(files, "not-a-profile.txt");
  writeFileSync(bad, "this is a shopping list, not a CPU\n");
  await view.getByLabel("Load file…").setInputFiles(bad);
  const alert = view.getByRole("alert");
  await alert.waitFor();
  const cli = await sfIn(files, ["layout", "not-a-profile.txt"]);
  assert.equal(cli.code, 2);
  assert.equal(await alert.textContent(), cli.err.trimEnd());
  await page.screenshot({ path: join(SHOTS, "web-bad-file.png"), fullPage: false });
  // The previous layout is still there, and a good file still loads.
  assert.ok(await view.locator("table.components").isVisible());
  const good = join(files, "zen5.json");
  const r = await sfIn(files, ["layout", "amd-zen5", "--save-profile", good]);
  assert.equal(r.code, 0, r.err);
  await view.getByLabel("Load file…").setInputFiles(good);
  await view.locator("select option:checked", { hasText: "zen5.json" }).waitFor({ state: "attached" });
  assert.ok(await alert.isHidden());
  assert.equal(
    Number(await view.locator('[data-field="userSize"]').textContent()),
    computeLayout(builtinProfile("amd-zen5")).userSize,
  );
  // A bad kernel version reads as the CLI's option error.
  await view.getByLabel("Linux version").fill("six");
  const cliK = await sfIn(files, ["layout", "amd-zen5", "--kernel", "six"]);
  assert.equal(await alert.textContent(), cliK.err.trimEnd());
  await page.screenshot({ path: join(SHOTS, "web-error.png"), fullPage: true });
  await view.getByLabel("Linux version").fill("");
  await alert.waitFor({ state: "hidden" });
});

test("inspect view: fields, highlighted bytes and the prediction per policy", skip, async () => {
  await tab("Inspect frame");
  const view = panel("Inspect frame");
  // Before any file: not blank, a sample frame decoded as the CLI decodes it, and saying so.
  assert.match((await view.getByTestId("inspect-origin").textContent()) ?? "", /No file opened yet/);
  const sampleRows = await view.locator('[data-testid="field-table"] tbody tr').count();
  assert.ok(sampleRows > 20, `${sampleRows} rows`);
  assert.equal(
    await view.locator('tr[data-path="fpstate/sw_bytes/xstate_size"] td.value').textContent(),
    `0x${computeLayout(builtinProfile("intel-icelake-server")).userSize.toString(16)}`,
  );
  const st = emptyState();
  setRegister(st, "xmm3", 0xdeadbeefn);
  const frame = buildFrame({
    style: "kernel",
    layout: computeLayout(builtinProfile("intel-icelake-server")),
    state: st,
  });
  const file = join(files, "icx.frame");
  writeFileSync(file, frame.bytes);
  await view.getByLabel("Receiving CPU (--cpu)").selectOption("amd-zen5");
  await view.getByLabel("Open frame file…").setInputFiles(file);
  await view.getByTestId("predictions").waitFor();
  const cli = await sfIn(files, ["predict", "icx.frame", "--cpu", "amd-zen5", "--all-policies", "--json"]);
  assert.equal(cli.code, 0, cli.err);
  for (const p of JSON.parse(cli.out).predictions) {
    const row = view.locator(`[data-testid="predictions"] tr[data-policy="${p.policy}"]`);
    assert.equal(await row.locator('[data-col="path"]').textContent(), p.path, p.policy);
    assert.equal(await row.locator('[data-col="reason"]').textContent(), p.reason, p.policy);
  }
  // A frame from Ice Lake read on Zen 5 does not restore everything under every policy.
  const paths = await view.locator('[data-testid="predictions"] [data-col="path"]').allTextContents();
  assert.ok(
    paths.some((p) => p !== "xrstor"),
    paths.join(","),
  );
  const ins = await sfIn(files, ["inspect", "icx.frame", "--cpu", "amd-zen5", "--json"]);
  const codes = JSON.parse(ins.out).findings.map((f: { code: string }) => f.code);
  assert.deepEqual(
    await view
      .locator('[data-testid="inspect-findings"] li')
      .evaluateAll((lis) => lis.map((li) => li.getAttribute("data-code"))),
    codes,
  );
  // Hovering a field lights up exactly its bytes, which hold its value.
  const fpOff = frame.fpstateOffset!;
  const row = view.locator('tr[data-path="fpstate/sw_bytes/xstate_size"]');
  await row.hover();
  const lit = await view
    .locator(".hexdump .b.hl")
    .evaluateAll((bs) => bs.map((b) => [Number(b.getAttribute("data-o")), b.textContent]));
  const at = fpOff + 464 + 16;
  assert.deepEqual(
    lit,
    [...frame.bytes.subarray(at, at + 4)].map((b, i) => [at + i, b.toString(16).padStart(2, "0")]),
  );
  assert.equal(await row.locator("td.value").textContent(), `0x${frame.fpstate!.sw.xstateSize.toString(16)}`);
  await page.screenshot({ path: join(SHOTS, "web-inspect-bytes.png"), fullPage: false });
  await page.screenshot({ path: join(SHOTS, "web-inspect.png"), fullPage: true });
  // A truncated FPU area: the CLI's error line.
  const cut = join(files, "cut.bin");
  writeFileSync(cut, frame.bytes.subarray(fpOff, fpOff + 900));
  await view.getByLabel("Input is").selectOption("fpstate");
  await view.getByLabel("Open frame file…").setInputFiles(cut);
  const alert = view.getByRole("alert");
  await alert.waitFor();
  const cliCut = await sfIn(files, ["inspect", "cut.bin", "--fpstate-only", "--cpu", "amd-zen5"]);
  assert.equal(cliCut.code, 2);
  assert.equal(await alert.textContent(), cliCut.err.trimEnd());
});

test("check view: verdict and findings as 'sigframe check'", skip, async () => {
  await tab("Check migration");
  const view = panel("Check migration");
  await view.getByLabel("From (source host)").selectOption("intel-icelake-server");
  await view.getByLabel("To (destination host)").selectOption("amd-zen5");
  await view.getByLabel("Sigreturn policy").selectOption("classic");
  const cli = await sfIn(files, [
    "check",
    "--from",
    "intel-icelake-server",
    "--to",
    "amd-zen5",
    "--policy",
    "classic",
    "--json",
  ]);
  const doc = JSON.parse(cli.out);
  assert.equal(
    await view.getByTestId("check-verdict").textContent(),
    `verdict: ${doc.verdict} (exit ${cli.code})`,
  );
  const shown = await view
    .locator("tr[data-code]")
    .evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-code")));
  const bySeverity = ["error", "warning", "info"].flatMap((s) =>
    doc.findings.filter((f: { severity: string }) => f.severity === s).map((f: { code: string }) => f.code),
  );
  assert.deepEqual(shown, bySeverity);
  assert.ok(shown.length > 0);
  await page.screenshot({ path: join(SHOTS, "web-check.png"), fullPage: true });
});

/** A process on AMD Zen 4 in a SIGUSR1 handler: its checkpoint archive (Podman layout) and core. */
function zen4Process() {
  const l = computeLayout(builtinProfile("amd-zen4"));
  const STACK = 0x7ffffffde000n;
  const p = simulate(
    l,
    [{ tid: 321, sp: STACK + 0x20800n, signals: [{ signo: 10, regs: { k2: "0xabcd" } }] }],
    [{ start: STACK, size: 0x21000 }],
  );
  const enc = (t: string) => new TextEncoder().encode(t);
  const members: [string, Uint8Array][] = [
    ...[...criuImages(p, { mainStack: STACK + 0x20f00n })].map(([n, b]): [string, Uint8Array] => [
      `checkpoint/${n}`,
      b,
    ]),
    ["dump.log", enc(compelDumpLog(l, { vendor: "AuthenticAMD", family: 25, brand: "AMD EPYC 9654" }))],
    ["config.dump", enc(JSON.stringify({ id: "c0ffee", name: "web", createdTime: "2026-12-01T10:00:00Z" }))],
    ["spec.dump", enc(JSON.stringify({ annotations: { "io.container.manager": "libpod" } }))],
  ];
  return { archive: tarOf(members), core: elfCore(p, { mainStack: STACK + 0x20f00n }), members };
}

/** The archive's members as an image folder (images and dump.log side by side), as `criu dump -D` leaves it. */
function writeFolder(dir: string, members: [string, Uint8Array][]): string {
  mkdirSync(dir, { recursive: true });
  for (const [n, b] of members) writeFileSync(join(dir, n.replace(/^checkpoint\//, "")), b);
  return dir;
}

function zstd(bytes: Uint8Array): Uint8Array | undefined {
  const r = spawnSync("zstd", ["-q", "-c"], { input: bytes, maxBuffer: 1 << 26 });
  return r.status === 0 && !r.error ? new Uint8Array(r.stdout) : undefined;
}

test(
  "checkpoint archives and compressed cores open in the page, read by the same core code as the CLI",
  skip,
  async () => {
    const { archive, core } = zen4Process();
    const z = zstd(archive);
    const archiveName = z ? "web.tar.zst" : "web.tar";
    writeFileSync(join(files, archiveName), z ?? archive);
    const coreName = zstd(core) ? "core.web.1000.zst" : "core.web.1000";
    writeFileSync(join(files, coreName), zstd(core) ?? core);

    // A profile picker takes the archive: the CPU the checkpoint was taken on (dump.log's layout).
    await tab("Layout");
    const layout = panel("Layout");
    await layout.getByLabel("Load file…").setInputFiles(join(files, archiveName));
    await layout.locator("select option:checked", { hasText: archiveName }).waitFor({ state: "attached" });
    const cliLayout = JSON.parse((await sfIn(files, ["layout", archiveName, "--json"])).out);
    assert.equal(Number(await layout.locator('[data-field="userSize"]').textContent()), cliLayout.userSize);
    assert.equal(
      Number(await cell(layout, "OPMASK", "offset")),
      cliLayout.components.find((c: { name: string }) => c.name === "OPMASK").offset,
    );
    assert.match(
      (await layout.locator("select option:checked").textContent()) ?? "",
      /model and stepping not recorded/,
    );

    // The check view scans a checkpoint or a core: `check --checkpoint/--core FILE`.
    await tab("Check migration");
    const view = panel("Check migration");
    await view.getByLabel("To (destination host)").selectOption("intel-icelake-server");
    await view.getByLabel("Sigreturn policy").selectOption("classic");
    for (const [name, option] of [
      [archiveName, "--checkpoint"],
      [coreName, "--core"],
    ] as const) {
      await view.getByLabel("Open checkpoint or core…").setInputFiles(join(files, name));
      await view
        .getByTestId("check-image")
        .filter({ hasText: `${name}: ` })
        .waitFor();
      assert.match((await view.getByTestId("check-image").textContent()) ?? "", /1 live signal frame/);
      const cli = await sfIn(files, [
        "check",
        option,
        name,
        "--to",
        "intel-icelake-server",
        "--policy",
        "classic",
        "--json",
      ]);
      const doc = JSON.parse(cli.out);
      await view
        .getByTestId("check-verdict")
        .filter({ hasText: `verdict: ${doc.verdict} (exit ${cli.code})` })
        .waitFor();
      const shown = await view
        .locator("tr[data-code]")
        .evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-code")));
      const bySeverity = ["error", "warning", "info"].flatMap((sev) =>
        doc.findings
          .filter((f: { severity: string }) => f.severity === sev)
          .map((f: { code: string }) => f.code),
      );
      assert.deepEqual(shown, bySeverity, name);
      assert.ok(shown.includes("component_misplaced"), name);
    }
    await page.screenshot({ path: join(SHOTS, "web-check-checkpoint.png"), fullPage: true });
    await view.getByRole("button", { name: "Clear" }).click();
    await view.getByTestId("check-image").filter({ hasText: "none" }).waitFor();
  },
);

test(
  "profile pickers show the whole name of the chosen profile (the longest built-in too)",
  skip,
  async () => {
    const longest = builtinList().reduce((a, b) =>
      `${a.name} — ${a.title}`.length >= `${b.name} — ${b.title}`.length ? a : b,
    );
    for (const [name, label] of [
      ["Layout", "CPU profile"],
      ["Diff", "B"],
      ["Check migration", "To (destination host)"],
      ["Inspect frame", "Receiving CPU (--cpu)"],
    ] as const) {
      await tab(name);
      const select = panel(name).getByLabel(label, { exact: true });
      await select.selectOption(longest.name);
      // The chosen option's text, in the select's own font, fits inside the box beside its arrow.
      const id = await select.getAttribute("id");
      const fit = (await page.evaluate(`(() => {
      const sel = document.getElementById(${JSON.stringify(id)});
      const cs = getComputedStyle(sel);
      const ctx = document.createElement("canvas").getContext("2d");
      ctx.font = [cs.fontStyle, cs.fontWeight, cs.fontSize, cs.fontFamily].join(" ");
      const text = sel.selectedOptions[0].textContent;
      const room = sel.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 16;
      return { text, need: ctx.measureText(text).width, room, title: sel.title };
    })()`)) as { text: string; need: number; room: number; title: string };
      assert.ok(fit.need <= fit.room, `${name}: "${fit.text}" needs ${fit.need}px, has ${fit.room}px`);
      assert.equal(fit.title, fit.text);
    }
    await tab("Layout");
    await page.screenshot({ path: join(SHOTS, "web-layout-longest.png"), fullPage: false });
  },
);

test(
  "scan view: a core, a checkpoint archive and an image folder, each frame as 'sigframe scan' lists it; Inspect opens a frame as --save-frames writes it",
  skip,
  async () => {
    const { archive, core, members } = zen4Process();
    writeFileSync(join(files, "scan.core"), core);
    writeFileSync(join(files, "scan.tar"), archive);
    const folder = writeFolder(join(files, "scan-images"), members);
    await tab("Scan");
    const view = panel("Scan");
    for (const [name, open] of [
      [
        "scan.core",
        () => view.getByLabel("Open checkpoint or core…").setInputFiles(join(files, "scan.core")),
      ],
      ["scan.tar", () => view.getByLabel("Open checkpoint or core…").setInputFiles(join(files, "scan.tar"))],
      ["scan-images", () => view.getByLabel("Open image folder…").setInputFiles(folder)],
    ] as const) {
      await open();
      await view
        .getByTestId("scan-summary")
        .filter({ hasText: `${name}: ` })
        .waitFor();
      const cli = await sfIn(files, ["scan", name, "--json"]);
      assert.equal(cli.code, 0, cli.err);
      const doc = JSON.parse(cli.out);
      const rows = await view
        .locator('[data-testid="scan-frames"] tbody tr')
        .evaluateAll((trs) =>
          trs.map((tr) => [
            tr.getAttribute("data-ucontext"),
            tr.querySelector('[data-col="depth"]')?.textContent,
            tr.querySelector('[data-col="signal"]')?.textContent,
            Number(tr.querySelector('[data-col="xstate_size"]')?.textContent),
            tr.querySelector('[data-col="confidence"]')?.textContent?.split(" ")[0],
          ]),
        );
      assert.deepEqual(
        rows,
        doc.frames.map(
          (f: {
            ucontext: string;
            depth: number | null;
            signalName: string;
            xstateSize: number;
            confidence: string;
          }) => [
            f.ucontext,
            f.depth === null ? "-" : String(f.depth),
            f.signalName,
            f.xstateSize,
            f.confidence,
          ],
        ),
        name,
      );
      assert.match(
        (await view.getByTestId("scan-summary").textContent()) ?? "",
        new RegExp(`: ${doc.summary.liveFrames} live signal frame`),
      );
    }
    await page.screenshot({ path: join(SHOTS, "web-scan.png"), fullPage: true });

    // Inspect on the live frame: the file --save-frames writes, at its address, read with the source CPU.
    const saved = join(files, "scan-saved");
    const cli = await sfIn(files, ["scan", "scan-images", "--save-frames", saved, "--json"]);
    const entry = JSON.parse(cli.out).saved.frames[0];
    await view.getByRole("button", { name: `Inspect ${entry.file}` }).click();
    const ins = panel("Inspect frame");
    await ins.getByTestId("inspect-origin").filter({ hasText: entry.file }).waitFor();
    assert.equal(
      await page.getByRole("tab", { name: "Inspect frame" }).getAttribute("aria-selected"),
      "true",
    );
    assert.equal(await ins.getByLabel("Address of the first byte (--base)").inputValue(), entry.frame);
    assert.match(
      (await ins.getByLabel("Receiving CPU (--cpu)").locator("option:checked").textContent()) ?? "",
      /source CPU/,
    );
    await ins.getByTestId("predictions").waitFor();
    const file = join(saved, entry.file);
    const cpu = join(saved, "source-cpu.json");
    const cliIns = await sfIn(files, ["inspect", file, "--base", entry.frame, "--cpu", cpu, "--json"]);
    assert.equal(cliIns.code, 0, cliIns.err);
    assert.deepEqual(
      await ins
        .locator('[data-testid="inspect-findings"] li')
        .evaluateAll((lis) => lis.map((li) => li.getAttribute("data-code"))),
      JSON.parse(cliIns.out).findings.map((f: { code: string }) => f.code),
    );
    // The bytes are the saved file's: k2 as the process had it, at Zen 4's OPMASK offset.
    const k = JSON.parse(cliIns.out).fpstate.components.find((c: { name: string }) => c.name === "OPMASK");
    assert.equal(k.registers.k2, "0xabcd");
    const kRow = ins.locator(`tr[data-path="fpstate/OPMASK/k2"]`);
    assert.equal(await kRow.locator("td.value").textContent(), "0xabcd");
    assert.equal(
      Number(await kRow.locator("td.num").first().textContent()),
      entry.fpstateOffset + k.offset + 16,
    );
    const cliPred = await sfIn(files, ["predict", file, "--cpu", cpu, "--all-policies", "--json"]);
    for (const p of JSON.parse(cliPred.out).predictions)
      assert.equal(
        await ins
          .locator(`[data-testid="predictions"] tr[data-policy="${p.policy}"] [data-col="path"]`)
          .textContent(),
        p.path,
      );
    await page.screenshot({ path: join(SHOTS, "web-scan-inspect.png"), fullPage: false });
  },
);

test("check view: an image folder of a real checkpoint, as 'check --checkpoint DIR'", {
  skip: skip.skip ?? needs(FIXTURES, "fixtures").skip,
}, async () => {
  await tab("Check migration");
  const view = panel("Check migration");
  await view.getByLabel("To (destination host)").selectOption("intel-sapphirerapids");
  await view.getByLabel("Sigreturn policy").selectOption("classic");
  const dir = join(FIXTURES, "criu", "S2");
  await view.getByLabel("Open image folder…").setInputFiles(dir);
  await view.getByTestId("check-image").filter({ hasText: "S2: checkpoint" }).waitFor();
  const cli = await sfIn(files, [
    "check",
    "--checkpoint",
    dir,
    "--to",
    "intel-sapphirerapids",
    "--policy",
    "classic",
    "--json",
  ]);
  const doc = JSON.parse(cli.out);
  assert.equal(cli.code, 3);
  await view
    .getByTestId("check-verdict")
    .filter({ hasText: `verdict: ${doc.verdict} (exit 3)` })
    .waitFor();
  const shown = await view
    .locator("tr[data-code]")
    .evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-code")));
  assert.ok(shown.includes("component_misplaced"), shown.join());
  await view.getByRole("button", { name: "Clear" }).click();
});

test(
  "accessible structure: labelled controls, tabs by keyboard; no foreign requests, no page errors",
  skip,
  async () => {
    // Every control has a label (or is a button with text), file inputs included.
    const unlabelled = await page.locator("select, input, button").evaluateAll((els) =>
      els
        .filter((el) => {
          const labels = (el as unknown as { labels: { length: number } | null }).labels;
          return (
            (labels?.length ?? 0) === 0 && !el.getAttribute("aria-label") && !(el.textContent ?? "").trim()
          );
        })
        .map((el) => el.outerHTML.slice(0, 80)),
    );
    assert.ok((await page.locator("select, input, button").count()) > 15);
    assert.deepEqual(unlabelled, []);
    await page.getByRole("tab", { name: "Layout" }).focus();
    await page.keyboard.press("ArrowRight");
    assert.equal(await page.getByRole("tab", { name: "Diff" }).getAttribute("aria-selected"), "true");
    assert.ok(await page.getByRole("tabpanel", { name: "Diff" }).isVisible());
    assert.equal(new URL(page.url()).hash, "#diff");
    assert.deepEqual(foreign, []);
    assert.deepEqual(pageErrors, []);
  },
);
