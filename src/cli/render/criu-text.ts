/** `sigframe criu show` without --json: a CRIU image or a checkpoint's listing as text. */
import type { ArchiveListing } from "../../core/archive/members.ts";
import type { core_entry } from "../../core/criu/gen/core_pb.ts";
import type { cpuinfo_entry } from "../../core/criu/gen/cpuinfo_pb.ts";
import type { mm_entry } from "../../core/criu/gen/mm_pb.ts";
import type { pagemap_entry, pagemap_head } from "../../core/criu/gen/pagemap_pb.ts";
import type { pstree_entry } from "../../core/criu/gen/pstree_pb.ts";
import { PAGE_SIZE } from "../../core/criu/memory.ts";
import type { DecodedImage } from "../../core/criu/message.ts";
import { type CritValue, critDict, mapFlags } from "../../core/criu/render.ts";
import {
  GPREG_NAMES,
  opmaskRegisters,
  sigactionSignal,
  threadState,
  zmmRegister,
} from "../../core/criu/thread.ts";
import { bitsOf, bytesToHex, hex } from "../../core/hex.ts";
import { componentNames } from "../../core/xsave/components.ts";
import type { CliContext } from "../context.ts";
import { renderPairs, renderTable } from "./table.ts";

const KIND_WORDS: Record<ArchiveListing["members"][number]["kind"], string> = {
  image: "CRIU image",
  pages: "pages (memory)",
  metadata: "metadata",
  directory: "directory",
  other: "-",
};

export function renderListing(
  ctx: CliContext,
  path: string,
  l: ArchiveListing,
  describeContainer: (c: ArchiveListing["containers"][number]["container"]) => string | undefined,
): string {
  const files = l.members.filter((m) => m.kind !== "directory");
  const out = [
    `${ctx.c.bold(path)}: checkpoint${l.compression === "none" ? "" : ` (${l.compression}-compressed)`}, ${l.containers.length} container${l.containers.length === 1 ? "" : "s"}, ${files.length} file${files.length === 1 ? "" : "s"}`,
  ];
  const groups = [...new Set(files.map((m) => m.container ?? null))];
  for (const g of groups) {
    const c = l.containers.find((x) => x.prefix === g);
    out.push("");
    if (g === null) out.push(ctx.c.bold("other files"));
    else
      out.push(ctx.c.bold(`${(c && describeContainer(c.container)) ?? "container"}${g ? `  [${g}]` : ""}`));
    out.push(
      renderTable(
        [{ header: "name" }, { header: "kind" }, { header: "bytes", align: "right" }],
        files
          .filter((m) => (m.container ?? null) === g)
          .map((m) => [
            m.name,
            m.magic ? `${KIND_WORDS[m.kind]} ${m.magic}` : KIND_WORDS[m.kind],
            String(m.size),
          ]),
        "  ",
      ),
    );
  }
  out.push("");
  out.push(ctx.c.dim(`decode one with 'sigframe criu show ${path} --member NAME' (e.g. core-<tid>.img)`));
  return out.join("\n");
}

export function renderImage(ctx: CliContext, img: DecodedImage): string {
  const head = `${ctx.c.bold(img.magic)} image, ${img.entries.length} entr${img.entries.length === 1 ? "y" : "ies"}`;
  const msgs = img.entries.map((e) => e.message);
  switch (img.magic) {
    case "CORE":
      return [head, ...msgs.map((m) => renderCore(ctx, m as core_entry))].join("\n");
    case "MM":
      return [head, ...msgs.map((m) => renderMm(m as mm_entry))].join("\n");
    case "PAGEMAP":
      return [
        head,
        renderPagemap(msgs[0] as pagemap_head | undefined, msgs.slice(1) as pagemap_entry[]),
      ].join("\n");
    case "PSTREE":
      return [head, renderPstree(msgs as pstree_entry[])].join("\n");
    case "CPUINFO":
      return [head, ...msgs.map((m) => renderCpuinfo(m as cpuinfo_entry))].join("\n");
    default:
      return [
        head,
        ...img.entries.map((e, i) => `entry ${i}\n${generic(critDict(e.schema, e.message), "  ")}`),
      ].join("\n");
  }
}

/** Indented `key: value` lines for any crit dict. */
function generic(v: { [k: string]: CritValue }, indent: string): string {
  const lines: string[] = [];
  for (const [k, x] of Object.entries(v)) {
    if (Array.isArray(x)) {
      if (x.every((y) => typeof y !== "object" || y === null))
        lines.push(`${indent}${k}: [${x.map(String).join(", ")}]`);
      else
        x.forEach((y, i) => {
          lines.push(`${indent}${k}[${i}]:`);
          lines.push(generic(y as { [k: string]: CritValue }, `${indent}  `));
        });
    } else if (typeof x === "object") {
      lines.push(`${indent}${k}:`);
      lines.push(generic(x, `${indent}  `));
    } else lines.push(`${indent}${k}: ${String(x).trimEnd()}`);
  }
  return lines.filter((l) => l !== "").join("\n");
}

function signals(mask: bigint): string {
  if (mask === 0n) return "none";
  return bitsOf(mask)
    .map((b) => String(b + 1))
    .join(",");
}

function renderCore(ctx: CliContext, core: core_entry): string {
  const out: string[] = [];
  const tc = core.tc;
  const th = core.threadCore;
  const comm = th?.comm || tc?.comm || "";
  out.push(`${ctx.c.bold("thread")} ${comm ? JSON.stringify(comm) : ""}${tc ? " (task leader)" : ""}`);
  const st = threadState(core);
  const g = st.gpregs;
  out.push("");
  out.push(`  ${ctx.c.bold("registers")} (${st.mode})`);
  const names = GPREG_NAMES;
  const rows: string[][] = [];
  for (let i = 0; i < names.length; i += 3) {
    const row: string[] = [];
    for (const n of names.slice(i, i + 3)) row.push(n, `0x${g[n].toString(16).padStart(16, "0")}`);
    rows.push(row);
  }
  out.push(
    renderTable(
      [{ header: "" }, { header: "" }, { header: "" }, { header: "" }, { header: "" }, { header: "" }],
      rows,
      "    ",
    )
      .split("\n")
      .slice(1)
      .join("\n"),
  );
  const fp = st.fpregs;
  out.push("");
  out.push(`  ${ctx.c.bold("fpu")}`);
  const pairs: [string, string][] = [
    ["fcw/fsw/ftw", `${hex(fp.cwd)} / ${hex(fp.swd)} / ${hex(fp.twd)}`],
    ["mxcsr", `${hex(fp.mxcsr)} (mask ${hex(fp.mxcsrMask)})`],
  ];
  const x = fp.xsave;
  if (x) {
    pairs.push(["xstate_bv", `${hex(x.xstateBv)} (${componentNames(x.xstateBv, " ")})`]);
    const arrays: [string, number, number][] = [
      ["ymmh_space", x.ymmhSpace.length, 64],
      ["bndreg_state", x.bndregState.length, 8],
      ["bndcsr_state", x.bndcsrState.length, 8],
      ["opmask_reg", x.opmaskReg.length, 8],
      ["zmm_upper", x.zmmUpper.length, 64],
      ["hi16_zmm", x.hi16Zmm.length, 128],
      ["pkru", x.pkru.length, 2],
    ];
    pairs.push([
      "xsave arrays",
      arrays
        .filter(([, n]) => n > 0)
        .map(([name, n, want]) => `${name}[${n}]${n === want ? "" : ` (expected ${want})`}`)
        .join(", ") || "none",
    ]);
    if (x.cet) pairs.push(["cet", `cet ${hex(x.cet.cet)} ssp ${hex(x.cet.ssp)}`]);
  } else pairs.push(["xsave", "absent (FXSAVE state only)"]);
  out.push(renderPairs(pairs, "    "));
  const regCount = x && (x.hi16Zmm.length > 0 || x.zmmUpper.length > 0) ? (x.hi16Zmm.length ? 32 : 16) : 16;
  const width = x?.zmmUpper.length ? 64 : x?.ymmhSpace.length ? 32 : 16;
  const label = width === 64 ? "zmm" : width === 32 ? "ymm" : "xmm";
  const vec: string[] = [];
  for (let r = 0; r < regCount; r++) {
    const b = zmmRegister(fp, r).bytes.subarray(0, width);
    if (b.some((v) => v !== 0)) vec.push(`    ${`${label}${r}`.padEnd(6)} ${bytesToHex(b)}`);
  }
  out.push(`    ${label} registers (memory order), non-zero: ${vec.length} of ${regCount}`);
  out.push(...vec);
  const k = opmaskRegisters(fp);
  if (k?.some((v) => v !== 0n)) out.push(`    k0-k7  ${k.map((v) => hex(v)).join(" ")}`);
  if (th) {
    out.push("");
    out.push(`  ${ctx.c.bold("signals")}`);
    const sp: [string, string][] = [];
    if (st.blocked !== undefined) sp.push(["blocked", `${hex(st.blocked)} (${signals(st.blocked)})`]);
    if (st.altstack) {
      sp.push([
        "sigaltstack",
        st.altstack.flags & 2 && st.altstack.sp === 0n
          ? "disabled (SS_DISABLE)"
          : `sp ${hex(st.altstack.sp)} size ${st.altstack.size} flags ${st.altstack.flags}`,
      ]);
    }
    if (tc) sp.push(["task blocked", `${hex(tc.blkSigset)} (${signals(tc.blkSigset)})`]);
    if (sp.length) out.push(renderPairs(sp, "    "));
  }
  if (tc?.sigactions.length) {
    const rows = tc.sigactions
      .map((sa, i) => ({ sa, signo: sigactionSignal(i) }))
      .filter(({ sa }) => sa.sigaction !== 0n)
      .map(({ sa, signo }) => [
        String(signo),
        sa.sigaction === 1n ? "SIG_IGN" : hex(sa.sigaction),
        hex(sa.flags),
        hex(sa.restorer),
        hex(sa.mask),
      ]);
    out.push("");
    out.push(`  ${ctx.c.bold("sigactions")} (${rows.length} not SIG_DFL)`);
    if (rows.length)
      out.push(
        renderTable(
          [
            { header: "sig", align: "right" },
            { header: "handler" },
            { header: "flags" },
            { header: "restorer" },
            { header: "mask" },
          ],
          rows,
          "    ",
        ),
      );
  }
  return out.join("\n");
}

const PROT_MAP = [
  ["r", 1],
  ["w", 2],
  ["x", 4],
] as const;

function renderMm(mm: mm_entry): string {
  const out: string[] = [];
  out.push(
    renderPairs(
      [
        ["code", `${hex(mm.mmStartCode)}-${hex(mm.mmEndCode)}`],
        ["data", `${hex(mm.mmStartData)}-${hex(mm.mmEndData)}`],
        ["brk", `${hex(mm.mmStartBrk)}-${hex(mm.mmBrk)}`],
        ["stack start", hex(mm.mmStartStack)],
        ["vmas", String(mm.vmas.length)],
      ],
      "  ",
    ),
  );
  const rows = mm.vmas.map((v) => [
    hex(v.start),
    hex(v.end),
    `${(v.end - v.start) / 1024n}K`,
    PROT_MAP.map(([c, b]) => (v.prot & b ? c : "-")).join(""),
    mapFlags(BigInt(v.flags), [
      ["shared", 1],
      ["private", 2],
      ["anon", 0x20],
      ["growsdown", 0x100],
    ]).replace(/ \| /g, ","),
    mapFlags(BigInt(v.status), [
      ["regular", 1],
      ["stack", 2],
      ["vsyscall", 4],
      ["vdso", 8],
      ["heap", 32],
      ["file-private", 64],
      ["file-shared", 128],
      ["anon-shared", 256],
      ["anon-private", 512],
      ["vvar", 4096],
    ]).replace(/ \| /g, ","),
    String(v.pgoff),
  ]);
  out.push("");
  out.push(
    renderTable(
      [
        { header: "start" },
        { header: "end" },
        { header: "size", align: "right" },
        { header: "prot" },
        { header: "flags" },
        { header: "status" },
        { header: "pgoff", align: "right" },
      ],
      rows,
      "  ",
    ),
  );
  return out.join("\n");
}

function renderPagemap(head: pagemap_head | undefined, entries: pagemap_entry[]): string {
  const out: string[] = [];
  let present = 0n;
  const rows = entries.map((e) => {
    const n = e.nrPages || BigInt(e.compatNrPages);
    const fl = Object.hasOwn(e, "flags") ? e.flags : e.inParent ? 1 : 4;
    if (fl & 4 && !(fl & 1)) present += n;
    return [
      hex(e.vaddr),
      hex(e.vaddr + n * BigInt(PAGE_SIZE)),
      String(n),
      mapFlags(BigInt(fl), [
        ["parent", 1],
        ["lazy", 2],
        ["present", 4],
      ]).replace(/ \| /g, ","),
    ];
  });
  out.push(
    renderPairs(
      [
        ["pages file", head ? `pages-${head.pagesId}.img` : "?"],
        ["runs", String(entries.length)],
        ["pages in file", `${present} (${present * BigInt(PAGE_SIZE)} bytes)`],
      ],
      "  ",
    ),
  );
  out.push("");
  out.push(
    renderTable(
      [{ header: "start" }, { header: "end" }, { header: "pages", align: "right" }, { header: "flags" }],
      rows,
      "  ",
    ),
  );
  return out.join("\n");
}

function renderPstree(list: pstree_entry[]): string {
  return renderTable(
    [
      { header: "pid", align: "right" },
      { header: "ppid", align: "right" },
      { header: "pgid", align: "right" },
      { header: "sid", align: "right" },
      { header: "threads" },
    ],
    list.map((p) => [String(p.pid), String(p.ppid), String(p.pgid), String(p.sid), p.threads.join(" ")]),
    "  ",
  );
}

function renderCpuinfo(ci: cpuinfo_entry): string {
  return ci.x86Entry
    .map((x) => {
      const pairs: [string, string][] = [
        ["vendor", ["UNKNOWN", "INTEL", "AMD"][x.vendorId] ?? String(x.vendorId)],
        ["family/model/stepping", `${x.cpuFamily}/${x.model}/${x.stepping}`],
        ["model", x.modelId],
        ["capability words", `${x.capability.length} (capability_ver ${x.capabilityVer})`],
      ];
      if (x.xfeaturesMask) {
        const m = x.xfeaturesMask;
        const note =
          m & 1n && !(m & 2n) ? "  (bit 1 cleared by CRIU's supervisor-mask bug; SSE is present)" : "";
        pairs.push(["xfeatures_mask", `${hex(m)} ${componentNames(m, " ")}${note}`]);
      }
      pairs.push(["xsave_size/max", `${x.xsaveSize} / ${x.xsaveSizeMax}`]);
      return renderPairs(pairs, "  ");
    })
    .join("\n\n");
}
