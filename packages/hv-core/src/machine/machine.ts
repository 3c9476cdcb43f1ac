import { SkiffError } from "@skiff/common";
import { Bus } from "../bus.js";
import { HostClock, InstructionClock, type MachineClock, TICKS_PER_MS, TIMEBASE_HZ } from "../clock.js";
import { Cause, Priv } from "../cpu/causes.js";
import { S_INTERRUPTS } from "../cpu/csr-numbers.js";
import { Hart } from "../cpu/hart.js";
import type { JitOptions } from "../cpu/jit/block-cache.js";
import { CLINT_SIZE, Clint } from "../devices/clint.js";
import { PLIC_SIZE, Plic } from "../devices/plic.js";
import { UART_SIZE, Uart16550 } from "../devices/uart16550.js";
import type { NetBackend, VirtioNet } from "../devices/virtio/net.js";
import { generateDeviceTree } from "../fdt/device-tree.js";
import { IRQ } from "../irq.js";
import { loadElf, parseElf } from "../loader/elf.js";
import { type LinuxImage, loadLinuxImage, parseLinuxImage } from "../loader/linux-image.js";
import { openPayload, payloadBytes } from "../loader/payload.js";
import { PAGE_SIZE, Ram } from "../memory/ram.js";
import { SbiDispatcher } from "../sbi/dispatch.js";
import { type DecodedSnapshot, decodeSnapshot, encodeSnapshot, loadRamImage } from "../snapshot/container.js";
import { stateNumber } from "../snapshot/fields.js";
import { SnapshotFile } from "../snapshot/file.js";
import {
  requireStateVersion,
  type Snapshottable,
  type StateRecord,
  saveVersioned,
  type VersionedState,
} from "../snapshot/state.js";
import {
  DEFAULT_JIT,
  type DiskConfig,
  type MachineConfig,
  type MachineSpec,
  MIN_MEMORY,
  type SharedMemory,
  SPEC_STATE_VERSION,
  specFromState,
  specOf,
  specToState,
} from "./config.js";
import type { ExitReason } from "./exit.js";
import { Htif } from "./htif.js";
import { MachineSbiHost } from "./sbi-host.js";
import { VirtioSet } from "./virtio-set.js";
import { WARM_UP_INPUT, warmUpImage } from "./warm-up-guest.js";

/** The physical memory map (the same as QEMU's `virt` machine; see docs/architecture). */
export const MAP = {
  clint: 0x0200_0000,
  plic: 0x0c00_0000,
  uart: 0x1000_0000,
  virtio: 0x1000_1000,
  virtioStride: 0x1000,
} as const;
export const UART_IRQ = 10;

/** Enough runs for V8 to compile the restore path's functions (measured: 0.7 ms from the third on). */
const WARM_RESTORES = 5;
const WARM_MAC = "52:54:00:00:00:01";
/** RAM of the interpreter's warm-up machine: its image at the kernel's load address, 4 MiB in. */
const WARM_UP_MEMORY = 8 << 20;
/** Whether this thread ran the warm-up guest (V8's type feedback belongs to the thread's isolate). */
let interpreterWarm = false;
/** Longest stretch the hart runs before timers, HTIF and device lines are looked at again. */
const SLICE = 20_000;
/** Hypervisor mode delegates every exception S-mode can take except its own ecall (the SBI). */
const HV_MEDELEG = 0xffff & ~((1 << Cause.EcallFromS) | (1 << 10) | (1 << Cause.EcallFromM) | (1 << 14));

/**
 * One VM: a hart, RAM, CLINT, PLIC, UART, virtio devices and, by mode, the SBI (hypervisor) or
 * HTIF (firmware). `run` advances it on the calling thread; the caller decides how to sleep when
 * it idles. All guest actions end as guest-visible effects; only host problems (a disk file that
 * can't be opened) throw, as SkiffErrors.
 */
export class Machine {
  readonly ram: Ram;
  readonly hart: Hart;
  readonly clock: MachineClock;
  readonly clint: Clint;
  readonly plic: Plic;
  readonly uart: Uart16550;
  readonly virtio: VirtioSet;
  readonly sbi: MachineSbiHost;
  private readonly sbiDispatcher = new SbiDispatcher();
  private htif: Htif | undefined;
  /** Built by `blank` and not filled yet. */
  private isBlank = false;
  private pendingExit: ExitReason | undefined;
  /** Receives every byte the guest writes to its console (UART, SBI putchar, HTIF). */
  onConsoleOutput: (bytes: Uint8Array) => void = () => {};

  private constructor(
    readonly spec: MachineSpec,
    memory: SharedMemory | undefined,
    netBackend?: NetBackend,
    jit: boolean | JitOptions = DEFAULT_JIT,
  ) {
    this.ram = new Ram(spec.memoryBytes, { buffer: memory?.ram, dirtyBuffer: memory?.dirty });
    const bus = new Bus(this.ram);
    const clockRef: { hart?: Hart } = {};
    this.clock =
      spec.clock === "instructions"
        ? new InstructionClock(() => clockRef.hart?.retiredNow() ?? 0)
        : new HostClock();
    this.hart = new Hart(bus, { clock: this.clock, jit });
    clockRef.hart = this.hart;
    this.clint = new Clint(this.clock, this.hart);
    this.plic = new Plic(this.hart);
    this.uart = new Uart16550((level) => this.plic.setLevel(UART_IRQ, level));
    this.uart.onOutput = (bytes) => this.onConsoleOutput(bytes);
    // A write to mtimecmp ends the run slice so the next one is cut at the new deadline.
    bus.map(MAP.clint, CLINT_SIZE, {
      name: "clint",
      read: (offset, size) => this.clint.read(offset, size),
      write: (offset, size, value) => {
        this.clint.write(offset, size, value);
        this.hart.requestStop();
      },
    });
    bus.map(MAP.plic, PLIC_SIZE, this.plic);
    bus.map(MAP.uart, UART_SIZE, this.uart);
    this.virtio = new VirtioSet(
      spec,
      this.ram,
      (slot, level) => this.plic.setLevel(1 + slot, level),
      netBackend,
    );
    this.virtio.mapInto(bus, MAP.virtio, MAP.virtioStride);
    this.sbi = new MachineSbiHost(this, {
      requestExit: (reason) => this.requestExit(reason),
      pushUartInput: (bytes) => this.uart.pushInput(bytes),
    });
    if (spec.mode === "hypervisor") {
      this.hart.medeleg = HV_MEDELEG;
      this.hart.mideleg = S_INTERRUPTS;
      // As SBI firmware (OpenSBI) does: counters readable from S and, until the kernel says
      // otherwise, from U (Linux never writes scounteren itself).
      this.hart.mcounteren = -1;
      this.hart.scounteren = -1;
      // PMP entry 0 grants RWX everywhere, as firmware sets it up before entering S-mode: with
      // PMP implemented and no entry matching, every S-mode access would fail.
      this.hart.pmp.openAll();
      this.hart.machineTrapHook = (cause, tval) => this.hypervisorTrap(cause, tval);
    }
  }

  /** Builds a machine and loads its boot payload (ELF in firmware mode, Linux Image in hypervisor mode). */
  static create(cfg: MachineConfig): Machine {
    const m = new Machine(specOf(cfg), cfg.memory, cfg.net?.backend, cfg.jit ?? DEFAULT_JIT);
    if (cfg.mode === "firmware") m.bootFirmware(payloadBytes(cfg.image));
    else m.bootLinux(cfg);
    if (cfg.mode === "hypervisor" && !interpreterWarm) Machine.warmUpInterpreter(cfg.jit ?? DEFAULT_JIT);
    return m;
  }

  /**
   * Rebuilds a machine from `snapshot()` bytes, in fresh memory or the given shared buffers.
   * `disks` replaces the snapshot's disks (same count): the disk may live at another path now
   * (another node after a live migration) and may carry a dirty-block log. `net` plugs the NIC
   * (if the snapshot has one) into a backend; without it the NIC is unplugged. `jit` picks the engine
   * (translations are never in a snapshot: a restored machine rebuilds them).
   */
  static restore(
    snapshot: Uint8Array,
    opts: { memory?: SharedMemory; disks?: DiskConfig[]; net?: NetBackend; jit?: boolean | JitOptions } = {},
  ): Machine {
    const snap = decodeSnapshot(snapshot);
    const m = new Machine(
      snapshotSpec(snap.components, opts.disks),
      opts.memory,
      opts.net,
      opts.jit ?? DEFAULT_JIT,
    );
    m.load(snap);
    return m;
  }

  /**
   * `restore` from a snapshot file (a suspend to disk): the RAM runs are read from the file
   * straight into guest RAM, on libuv's threads, while this thread builds the machine and warms
   * its interpreter as a boot does (a restored guest ran cold otherwise). `ramIsZero`: the given
   * memory is fresh (nothing wrote it), so RAM between the runs is never touched; RAM allocated
   * here always is.
   */
  static async restoreFile(
    path: string,
    opts: {
      memory?: SharedMemory;
      ramIsZero?: boolean;
      disks?: DiskConfig[];
      net?: NetBackend;
      jit?: boolean | JitOptions;
    } = {},
  ): Promise<Machine> {
    const file = new SnapshotFile(path);
    let m: Machine | undefined;
    try {
      const spec = snapshotSpec(file.components, opts.disks);
      m = new Machine(spec, opts.memory, opts.net, opts.jit ?? DEFAULT_JIT);
      const loading = file.loadRam(m.ram, opts.ramIsZero === true || opts.memory === undefined);
      // Never an unhandled rejection while the warm-up runs; awaited below.
      loading.catch(() => undefined);
      if (spec.mode === "hypervisor" && !interpreterWarm) Machine.warmUpInterpreter(opts.jit ?? DEFAULT_JIT);
      await loading;
      m.restoreComponents(file.components);
      return m;
    } catch (err) {
      m?.close();
      throw err;
    } finally {
      file.close();
    }
  }

  /**
   * A machine for `cfg` with nothing loaded, never to run as it is: `restoreInto` fills it. Built
   * (disks opened, every structure allocated) before its snapshot exists, so that the restore that
   * counts (a live migration's pause) only copies state into ready objects.
   */
  static blank(cfg: Omit<MachineConfig, "image" | "initrd">): Machine {
    const m = new Machine(specOf(cfg), cfg.memory, cfg.net?.backend, cfg.jit ?? DEFAULT_JIT);
    m.isBlank = true;
    // A migration's destination: its guest resumes on this thread, which never booted, and ran
    // ~200 ms slow after the pause while V8 compiled the interpreter path by path. Warmed here,
    // before the pause, as a boot's thread is.
    if (cfg.mode === "hypervisor" && !interpreterWarm) Machine.warmUpInterpreter(cfg.jit ?? DEFAULT_JIT);
    return m;
  }

  /**
   * Restores a snapshot into this blank machine (see `blank`), keeping its disks (as `restore`
   * with `disks`), RAM buffers and NIC backend. Once only: a machine that ran or was restored has
   * state a snapshot need not overwrite. Throws SNAPSHOT_MISMATCH, leaving it blank, when the
   * snapshot is of another configuration; the caller then restores anew.
   */
  restoreInto(snapshot: Uint8Array): void {
    if (!this.isBlank) throw new SkiffError("MACHINE_NOT_BLANK", "only a blank machine takes a snapshot in");
    const snap = decodeSnapshot(snapshot);
    const spec = snapshotSpec(snap.components, this.spec.disks);
    if (JSON.stringify(specToState(spec)) !== JSON.stringify(specToState(this.spec))) {
      throw new SkiffError("SNAPSHOT_MISMATCH", "the snapshot is of another machine configuration");
    }
    this.isBlank = false;
    this.load(snap);
  }

  /** RAM (when the snapshot has it) and every component's state, into this new machine. */
  private load(snap: DecodedSnapshot): void {
    if (snap.ram) {
      if (snap.ram.size !== this.ram.size)
        throw new SkiffError("SNAPSHOT_CORRUPT", "snapshot RAM size mismatch");
      loadRamImage(snap.ram, this.ram);
    }
    this.restoreComponents(snap.components);
  }

  /**
   * Runs the restore path a few times on blank machines of this shape (1 MiB; the NIC, if any,
   * unplugged; the given disks, opened read-only), so that a restore that counts (a live
   * migration's pause) runs compiled code: the first restore in a fresh thread is tens of times
   * slower than the next ones.
   */
  static warmRestore(
    mode: MachineSpec["mode"],
    opts: { withNic?: boolean; disks?: readonly DiskConfig[] } = {},
  ): void {
    const cfg = {
      mode,
      memoryBytes: MIN_MEMORY,
      ...(opts.withNic ? { net: { mac: WARM_MAC } } : {}),
      disks: (opts.disks ?? []).map((d) => ({ path: d.path, readOnly: true })),
    };
    const model = Machine.blank(cfg);
    const snap = model.snapshot({ includeRam: false });
    model.close();
    for (let i = 0; i < WARM_RESTORES; i++) {
      const m = Machine.blank(cfg);
      try {
        m.restoreInto(snap);
      } finally {
        m.close();
      }
    }
  }

  /**
   * Runs the warm-up guest (warm-up-guest.ts) once in this thread before its first Linux boot, so
   * V8 compiles the interpreter's loop with feedback from every path instead of recompiling it
   * each time the boot reaches a new one. About 7,000 instructions; the guest ends idle. It runs
   * once the first real machine exists: V8 narrows a field's type to what the first object held,
   * and a machine built after the warm-up widened them, which threw away the loop's compile that
   * the warm-up had started.
   */
  private static warmUpInterpreter(jit: boolean | JitOptions): void {
    interpreterWarm = true;
    const m = Machine.create({ mode: "hypervisor", memoryBytes: WARM_UP_MEMORY, image: warmUpImage(), jit });
    const untilIdle = () => {
      for (let i = 0; i < 10 && m.run(1_000_000).kind === "budget"; i++);
    };
    untilIdle();
    m.consoleInput(WARM_UP_INPUT);
    untilIdle();
    m.close();
  }

  private bootFirmware(image: Uint8Array): void {
    const elf = parseElf(image);
    loadElf(elf, this.ram);
    this.hart.pc = elf.entry | 0;
    this.hart.priv = Priv.M;
    const tohost = elf.symbols.get("tohost");
    if (tohost !== undefined)
      this.htif = new Htif(this.ram, tohost, elf.symbols.get("fromhost"), (b) => this.onConsoleOutput(b));
  }

  private bootLinux(cfg: MachineConfig): void {
    const kernelFile = openPayload(cfg.image);
    let kernel: LinuxImage;
    try {
      kernel = parseLinuxImage(kernelFile);
      loadLinuxImage(kernel, this.ram);
    } finally {
      kernelFile.close();
    }
    const ramEnd = this.ram.base + this.ram.size;
    // The DTB sits in the last 64 KiB, the initrd right below it: both clear of the kernel's bss.
    const dtbAddr = ramEnd - 0x1_0000;
    let initrd: { start: number; end: number } | undefined;
    const initrdFile = cfg.initrd === undefined ? undefined : openPayload(cfg.initrd);
    try {
      const size = initrdFile?.size ?? 0;
      if (initrdFile && size > 0) {
        const start = ((dtbAddr - size) & ~(PAGE_SIZE - 1)) >>> 0;
        if (start < kernel.loadAddress + kernel.imageSize) {
          throw new SkiffError(
            "MACHINE_CONFIG_INVALID",
            "guest memory too small for kernel, initrd and device tree",
          );
        }
        const off = start - this.ram.base;
        initrdFile.copyTo(this.ram.u8, off);
        this.ram.dirty.markRange(off, size);
        initrd = { start, end: start + size };
      }
    } finally {
      initrdFile?.close();
    }
    const dtb = generateDeviceTree({
      memoryBytes: this.spec.memoryBytes,
      bootargs: this.spec.bootargs,
      initrd,
      virtio: this.virtio.slots.map((slot) => ({ slot })),
      timebaseHz: TIMEBASE_HZ,
    });
    if (dtb.length > 0x1_0000)
      throw new SkiffError("MACHINE_CONFIG_INVALID", "device tree larger than 64 KiB");
    this.ram.write(dtbAddr >>> 0, dtb);
    this.hart.priv = Priv.S;
    this.hart.pc = kernel.entry | 0;
    this.hart.x[10] = 0;
    this.hart.x[11] = dtbAddr | 0;
  }

  /** In hypervisor mode nothing runs in M-mode: ecall from S is an SBI call; anything else wedges the guest. */
  private hypervisorTrap(cause: number, tval: number): boolean {
    const hart = this.hart;
    if (cause === Cause.EcallFromS) {
      this.sbiDispatcher.handle(this.sbi, hart.x);
      hart.pc = (hart.pc + 4) | 0;
      return true;
    }
    this.requestExit({
      kind: "fatal",
      message: `trap to M-mode (cause 0x${(cause >>> 0).toString(16)}, tval 0x${(tval >>> 0).toString(16)}) at pc 0x${(hart.pc >>> 0).toString(16)}`,
    });
    return true;
  }

  private requestExit(reason: ExitReason): void {
    this.pendingExit ??= reason;
    this.hart.requestStop();
  }

  /** The network device, when the machine has one (its counters, its MAC). */
  get net(): VirtioNet | undefined {
    return this.virtio.net;
  }

  /** Total instructions retired since boot. */
  get instret(): number {
    return this.hart.retired;
  }

  /**
   * Runs up to `budget` steps. Returns why it stopped: budget spent, idle (WFI with nothing
   * pending: sleep up to `wakeInMs` or until input, then call again), or the guest's end.
   * `yieldNow` is asked after every slice of at most SLICE steps: true ends the run there (as
   * "budget"), so a caller with work waiting (a frame for the NIC, one the guest sent) does it
   * within a slice rather than after the whole budget.
   */
  run(budget: number, yieldNow?: () => boolean): ExitReason {
    this.isBlank = false;
    const hart = this.hart;
    const clock = this.clock;
    let left = budget;
    while (left > 0) {
      if (this.pendingExit) {
        const exit = this.pendingExit;
        this.pendingExit = undefined;
        return exit;
      }
      this.updateTimers();
      if (hart.waitingForInterrupt && !hart.interruptWaiting()) {
        const deadline = this.nextDeadline();
        if (clock.kind === "instructions") {
          if (deadline === Number.POSITIVE_INFINITY)
            return { kind: "idle", wakeInMs: Number.POSITIVE_INFINITY };
          clock.skipTo(deadline);
          continue;
        }
        return { kind: "idle", wakeInMs: Math.max(0, (deadline - clock.now()) / TICKS_PER_MS) };
      }
      let slice = left < SLICE ? left : SLICE;
      if (clock.kind === "instructions") {
        // Deterministic time: end the slice exactly at the next deadline so the interrupt is
        // taken at the same instruction however the caller splits its budgets.
        const untilDeadline = this.nextDeadline() - clock.now();
        if (untilDeadline < slice) slice = untilDeadline;
      }
      // Woken: an interrupt is waiting (hart.run would clear this itself, on a path V8 compiled
      // without feedback and deoptimized at a boot's first wake).
      if (hart.waitingForInterrupt) hart.waitingForInterrupt = false;
      const done = hart.run(slice);
      left -= done > 0 ? done : 1;
      if (this.htif) {
        const ev = this.htif.poll();
        if (ev) return { kind: "htif", code: ev.code };
      }
      if (yieldNow?.()) break;
    }
    // Leave device lines consistent with the clock, so a snapshot taken now restores identically.
    this.updateTimers();
    if (this.pendingExit) {
      const exit = this.pendingExit;
      this.pendingExit = undefined;
      return exit;
    }
    return { kind: "budget" };
  }

  /** The earliest timer deadline still in the future (+Infinity when none). */
  private nextDeadline(): number {
    const now = this.clock.now();
    const a = this.clint.nextDeadline();
    const b = this.sbi.timerDeadline;
    let d = Number.POSITIVE_INFINITY;
    if (a > now) d = a;
    if (b > now && b < d) d = b;
    return d;
  }

  private updateTimers(): void {
    this.clint.update();
    if (this.spec.mode === "hypervisor") {
      // STIP is a level: set while mtime >= the SBI deadline (set_timer clears it in the hart).
      const stip = this.clock.now() >= this.sbi.timerDeadline;
      if (stip !== ((this.hart.mipHw >>> IRQ.STI) & 1) > 0) {
        this.hart.setInterruptPending(IRQ.STI, stip);
      }
    }
  }

  /** Releases host resources (disk files). The machine must not run afterwards. */
  close(): void {
    this.virtio.close();
  }

  /** Console input from the user: to the UART, or to the SBI console once the guest uses it. */
  consoleInput(bytes: Uint8Array): void {
    this.sbi.consoleInput(bytes);
  }

  /** A serial line break (Linux: the SysRq prefix on a serial console). */
  sendBreak(): void {
    this.uart.sendBreak();
  }

  /** The complete machine state; RAM is left out with `includeRam: false` (migration sends it apart). */
  snapshot(opts: { includeRam?: boolean } = {}): Uint8Array {
    // A snapshot is a synchronization point: the TLB is not part of it (a restore starts empty),
    // so this machine must continue from an empty TLB too. Otherwise a translation cached here
    // keeps serving accesses after the guest changed the PTE without SFENCE.VMA (legal: Privileged
    // spec §4.2.1), e.g. Linux clearing A in ptep_clear_flush_young, while the restored copy walks
    // the table and sets A again: the two copies would diverge.
    this.hart.flushTlb();
    return encodeSnapshot({
      components: this.saveComponents(),
      ram: opts.includeRam === false ? undefined : this.ram,
    });
  }

  /**
   * The snapshot's sections besides the machine's config, in restore order (the clock before the
   * CLINT, which compares against it), each owned by the component that saves and restores it.
   * Virtio slots are optional: a slot without a section keeps its device's reset state.
   */
  private sections(): Map<string, { component: Snapshottable; optional: boolean }> {
    const required = (component: Snapshottable) => ({ component, optional: false });
    const sections = new Map([
      ["hart", required(this.hartSection())],
      ["clock", required(this.clock)],
      ["clint", required(this.clint)],
      ["plic", required(this.plic)],
      ["uart", required(this.uart)],
      ["sbi", required(this.sbi)],
      ["platform", required(this.platformSection())],
    ]);
    this.virtio.devices.forEach((d, i) => {
      sections.set(`virtio${i}`, { component: d, optional: true });
    });
    return sections;
  }

  /** The hart's registers (their shape is the CPU's; version 1 as first written). */
  private hartSection(): Snapshottable {
    const hart = this.hart;
    return {
      stateVersion: 1,
      save: () => hart.save(),
      restore: (s, version) => {
        requireStateVersion("hart", version, [1]);
        hart.restore(s);
      },
    };
  }

  /** Where HTIF lives in a firmware guest (null in hypervisor mode or without `tohost`). */
  private platformSection(): Snapshottable {
    return {
      stateVersion: 1,
      save: () => ({
        htif: this.htif ? { tohost: this.htif.tohost, fromhost: this.htif.fromhost ?? -1 } : null,
      }),
      restore: (s, version) => {
        requireStateVersion("platform", version, [1]);
        const h = s.htif;
        if (h === null || h === undefined) return;
        const r = h as StateRecord;
        const tohost = stateNumber(r, "platform", "tohost");
        const fromhost = stateNumber(r, "platform", "fromhost");
        this.htif = new Htif(this.ram, tohost, fromhost >= 0 ? fromhost : undefined, (b) =>
          this.onConsoleOutput(b),
        );
      },
    };
  }

  private saveComponents(): Record<string, VersionedState> {
    const components: Record<string, VersionedState> = {
      machine: { version: SPEC_STATE_VERSION, state: specToState(this.spec) },
    };
    for (const [name, { component }] of this.sections()) components[name] = saveVersioned(component);
    return components;
  }

  /**
   * Restores every component from its section. A section no component claims (a device this
   * build doesn't have) is an error, as is a missing required one: a snapshot must never restore
   * into a machine that silently lacks part of it.
   */
  private restoreComponents(c: Record<string, VersionedState>): void {
    const sections = this.sections();
    for (const name of Object.keys(c)) {
      if (name !== "machine" && !sections.has(name))
        throw new SkiffError(
          "SNAPSHOT_SECTION_UNKNOWN",
          `snapshot section ${name} belongs to no device of this machine`,
          {
            section: name,
          },
        );
    }
    for (const [name, { component, optional }] of sections) {
      const s = c[name];
      if (s) component.restore(s.state, s.version);
      else if (!optional)
        throw new SkiffError("SNAPSHOT_SECTION_MISSING", `snapshot has no ${name} section`, {
          section: name,
        });
    }
  }
}

/** The config a snapshot records, its disks replaced by `disks` when given (the same count). */
function snapshotSpec(
  components: Record<string, VersionedState>,
  disks: DiskConfig[] | undefined,
): MachineSpec {
  const c = components.machine;
  if (!c) throw new SkiffError("SNAPSHOT_SECTION_MISSING", "snapshot has no machine section");
  const spec = specFromState(c.state, c.version);
  if (!disks) return spec;
  if (disks.length !== spec.disks.length) {
    throw new SkiffError(
      "SNAPSHOT_MISMATCH",
      `snapshot has ${spec.disks.length} disks, ${disks.length} given`,
    );
  }
  return specOf({ ...spec, net: spec.net ?? undefined, disks });
}
