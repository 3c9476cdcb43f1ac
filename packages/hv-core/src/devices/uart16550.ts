import { stateBool, stateBytes, stateNumber } from "../snapshot/fields.js";
import { requireStateVersion, type Snapshottable, type StateRecord } from "../snapshot/state.js";
import type { AccessSize, MmioDevice } from "./mmio.js";

/** Register offsets (reg-shift 0, byte-wide registers) and bits of the 16550A. */
const RBR_THR_DLL = 0;
const IER_DLM = 1;
const IIR_FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

const IER_ERBFI = 0x01; // received data available (and FIFO character timeout)
const IER_ETBEI = 0x02; // transmitter holding register empty
const IER_ELSI = 0x04; // receiver line status
const IER_EDSSI = 0x08; // modem status

const IIR_NONE = 0x01;
const IIR_RLS = 0x06;
const IIR_RDA = 0x04;
const IIR_TIMEOUT = 0x0c;
const IIR_THRE = 0x02;
const IIR_MSI = 0x00;
const IIR_FIFOS_ENABLED = 0xc0;

const FCR_ENABLE = 0x01;
const FCR_CLEAR_RX = 0x02;

const LCR_DLAB = 0x80;
const MCR_LOOP = 0x10;

export const LSR_DR = 0x01;
export const LSR_OE = 0x02;
export const LSR_PE = 0x04;
export const LSR_FE = 0x08;
export const LSR_BI = 0x10;
export const LSR_THRE = 0x20;
export const LSR_TEMT = 0x40;
export const LSR_RXFE = 0x80;
const LSR_ERRORS = LSR_OE | LSR_PE | LSR_FE | LSR_BI;

/** Without a modem, the lines a terminal needs read as asserted: CTS, DSR, DCD. */
const MSR_IDLE = 0xb0;

const RX_TRIGGER = [1, 4, 8, 14] as const;
/** Per-character flag kept beside the byte in the RX FIFO. */
const CHAR_BREAK = 1;

export const UART_SIZE = 0x100;

/** The UART's saved state (version 1): its registers and the RX FIFO, oldest byte first. */
export type UartState = {
  ier: number;
  lcr: number;
  mcr: number;
  fcr: number;
  scr: number;
  dll: number;
  dlm: number;
  lsrLatch: number;
  msr: number;
  threPending: boolean;
  rx: Uint8Array;
  rxFlags: Uint8Array;
};

export function readUartState(s: StateRecord, version: number): UartState {
  requireStateVersion("uart", version, [1]);
  const n = "uart";
  return {
    ier: stateNumber(s, n, "ier") & 0x0f,
    lcr: stateNumber(s, n, "lcr") & 0xff,
    mcr: stateNumber(s, n, "mcr") & 0x1f,
    fcr: stateNumber(s, n, "fcr") & 0xc9,
    scr: stateNumber(s, n, "scr") & 0xff,
    dll: stateNumber(s, n, "dll") & 0xff,
    dlm: stateNumber(s, n, "dlm") & 0xff,
    lsrLatch: stateNumber(s, n, "lsrLatch") & 0xff,
    msr: stateNumber(s, n, "msr") & 0xff,
    threPending: stateBool(s, n, "threPending"),
    rx: stateBytes(s, n, "rx"),
    rxFlags: stateBytes(s, n, "rxFlags"),
  };
}

export interface Uart16550Options {
  /**
   * RX FIFO depth. Deeper than a real 16550A's 16 bytes: host input (a paste into the console)
   * arrives faster than any baud rate would pace it, and the guest can't tell the difference since
   * it reads until LSR.DR clears.
   */
  rxFifoBytes?: number;
}

/**
 * ns16550a UART: the full register set (DLAB, IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR). The transmitter
 * is infinitely fast: a THR write is emitted at once, so THRE and TEMT always read set and a THRE
 * interrupt is re-raised right after each write (the driver stops it by clearing IER.ETBEI). With
 * no line timing to wait for, a FIFO holding fewer bytes than the trigger level reports the
 * character timeout straight away.
 */
export class Uart16550 implements MmioDevice, Snapshottable<UartState> {
  readonly name = "uart";
  readonly stateVersion = 1;
  /** Called with every byte the guest transmits. */
  onOutput: (bytes: Uint8Array) => void = () => {};

  private readonly capacity: number;
  private readonly rxData: Uint8Array;
  private readonly rxFlags: Uint8Array;
  private rxHead = 0;
  private rxCount = 0;
  /** Characters in the FIFO carrying an error flag (LSR bit 7). */
  private rxErrors = 0;

  private ier = 0;
  private lcr = 0x03;
  private mcr = 0;
  private fcr = 0;
  private scr = 0;
  private dll = 0x0c;
  private dlm = 0;
  /** OE/PE/FE/BI as latched for the next LSR read. */
  private lsrLatch = 0;
  private msr = MSR_IDLE;
  /** A THRE interrupt is owed (cleared by an IIR read that reports it, or a THR write). */
  private threPending = false;
  private irqLevel = false;

  constructor(
    private readonly irq: (level: boolean) => void,
    options: Uart16550Options = {},
  ) {
    const depth = options.rxFifoBytes ?? 4096;
    if (!Number.isInteger(depth) || depth < 16) throw new RangeError(`UART RX FIFO depth ${depth} < 16`);
    this.capacity = depth;
    this.rxData = new Uint8Array(depth);
    this.rxFlags = new Uint8Array(depth);
  }

  /** Bytes from the host to the guest. Bytes that find the FIFO full are lost and set LSR.OE. */
  pushInput(bytes: Uint8Array): void {
    if (this.loopback) return; // the serial input is disconnected in loopback mode
    for (let i = 0; i < bytes.length; i++) this.receive(bytes[i]!, 0);
    this.updateIrq();
  }

  /** A break on the line: Linux sees LSR.BI with a NUL character (the SysRq prefix). */
  sendBreak(): void {
    if (this.loopback) return;
    this.receive(0, CHAR_BREAK);
    this.updateIrq();
  }

  hasInput(): boolean {
    return this.rxCount > 0;
  }

  private get loopback(): boolean {
    return (this.mcr & MCR_LOOP) !== 0;
  }

  private get dlab(): boolean {
    return (this.lcr & LCR_DLAB) !== 0;
  }

  private get fifoEnabled(): boolean {
    return (this.fcr & FCR_ENABLE) !== 0;
  }

  private receive(byte: number, flags: number): void {
    if (this.rxCount === this.capacity) {
      this.lsrLatch |= LSR_OE;
      return;
    }
    const tail = (this.rxHead + this.rxCount) % this.capacity;
    this.rxData[tail] = byte;
    this.rxFlags[tail] = flags;
    this.rxCount++;
    if (flags !== 0) this.rxErrors++;
    if (this.rxCount === 1) this.revealHead();
  }

  /** A character's error flags show in LSR when it reaches the top of the FIFO. */
  private revealHead(): void {
    if (this.rxCount > 0 && (this.rxFlags[this.rxHead]! & CHAR_BREAK) !== 0) this.lsrLatch |= LSR_BI;
  }

  private clearRx(): void {
    this.rxHead = 0;
    this.rxCount = 0;
    this.rxErrors = 0;
  }

  read(offset: number, _size: AccessSize): number {
    switch (offset) {
      case RBR_THR_DLL:
        return this.dlab ? this.dll : this.readRbr();
      case IER_DLM:
        return this.dlab ? this.dlm : this.ier;
      case IIR_FCR:
        return this.readIir();
      case LCR:
        return this.lcr;
      case MCR:
        return this.mcr;
      case LSR:
        return this.readLsr();
      case MSR:
        return this.readMsr();
      case SCR:
        return this.scr;
      default:
        return 0;
    }
  }

  write(offset: number, _size: AccessSize, value: number): void {
    const v = value & 0xff;
    switch (offset) {
      case RBR_THR_DLL:
        if (this.dlab) this.dll = v;
        else this.writeThr(v);
        return;
      case IER_DLM:
        if (this.dlab) this.dlm = v;
        else this.writeIer(v);
        return;
      case IIR_FCR:
        this.writeFcr(v);
        return;
      case LCR:
        this.lcr = v;
        return;
      case MCR:
        this.writeMcr(v);
        return;
      case SCR:
        this.scr = v;
        return;
      default:
      // LSR and MSR are read-only.
    }
  }

  private readRbr(): number {
    if (this.rxCount === 0) return 0;
    const byte = this.rxData[this.rxHead]!;
    if (this.rxFlags[this.rxHead] !== 0) this.rxErrors--;
    this.rxHead = (this.rxHead + 1) % this.capacity;
    this.rxCount--;
    this.revealHead();
    this.updateIrq();
    return byte;
  }

  private writeThr(byte: number): void {
    // The write clears the THRE interrupt; the byte leaves at once and THR is empty again.
    this.threPending = false;
    if (this.loopback) this.receive(byte, 0);
    else this.onOutput(Uint8Array.of(byte));
    this.threPending = true;
    this.updateIrq();
  }

  private writeIer(v: number): void {
    const old = this.ier;
    this.ier = v & 0x0f;
    // Enabling ETBEI while THR is empty raises THRE at once (drivers kick transmission this way).
    if ((this.ier & IER_ETBEI) !== 0 && (old & IER_ETBEI) === 0) this.threPending = true;
    this.updateIrq();
  }

  private writeFcr(v: number): void {
    const enable = v & FCR_ENABLE;
    if (enable !== (this.fcr & FCR_ENABLE)) this.clearRx();
    // With FCR0 = 0 the other bits are not programmed (16550A datasheet, FCR description).
    if (enable) {
      if ((v & FCR_CLEAR_RX) !== 0) this.clearRx();
      this.fcr = v & 0xc9; // enable, DMA mode, trigger level; reset bits self-clear
    } else {
      this.fcr = 0;
    }
    this.updateIrq();
  }

  private writeMcr(v: number): void {
    this.mcr = v & 0x1f;
    const next = this.loopback
      ? (((v & 0x02) << 3) | ((v & 0x01) << 5) | ((v & 0x04) << 4) | ((v & 0x08) << 4)) & 0xf0
      : MSR_IDLE;
    const prev = this.msr & 0xf0;
    let delta = this.msr & 0x0f;
    const changed = prev ^ next;
    if (changed & 0x10) delta |= 0x01; // DCTS
    if (changed & 0x20) delta |= 0x02; // DDSR
    if (prev & 0x40 && !(next & 0x40)) delta |= 0x04; // TERI: trailing edge of RI
    if (changed & 0x80) delta |= 0x08; // DDCD
    this.msr = next | delta;
    this.updateIrq();
  }

  private readLsr(): number {
    let v = this.lsrLatch | LSR_THRE | LSR_TEMT;
    if (this.rxCount > 0) v |= LSR_DR;
    if (this.fifoEnabled && this.rxErrors > 0) v |= LSR_RXFE;
    this.lsrLatch = 0;
    this.updateIrq();
    return v;
  }

  private readMsr(): number {
    const v = this.msr;
    this.msr &= 0xf0;
    this.updateIrq();
    return v;
  }

  /** The highest-priority pending interrupt (16550A IIR priority order), or IIR_NONE. */
  private interruptId(): number {
    if ((this.ier & IER_ELSI) !== 0 && (this.lsrLatch & LSR_ERRORS) !== 0) return IIR_RLS;
    if ((this.ier & IER_ERBFI) !== 0 && this.rxCount > 0) {
      if (!this.fifoEnabled || this.rxCount >= RX_TRIGGER[this.fcr >>> 6]!) return IIR_RDA;
      return IIR_TIMEOUT;
    }
    if ((this.ier & IER_ETBEI) !== 0 && this.threPending) return IIR_THRE;
    if ((this.ier & IER_EDSSI) !== 0 && (this.msr & 0x0f) !== 0) return IIR_MSI;
    return IIR_NONE;
  }

  private readIir(): number {
    const id = this.interruptId();
    if (id === IIR_THRE) {
      this.threPending = false;
      this.updateIrq();
    }
    return id | (this.fifoEnabled ? IIR_FIFOS_ENABLED : 0);
  }

  private updateIrq(): void {
    const level = this.interruptId() !== IIR_NONE;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq(level);
    }
  }

  save(): UartState {
    const rx = new Uint8Array(this.rxCount);
    const rxFlags = new Uint8Array(this.rxCount);
    for (let i = 0; i < this.rxCount; i++) {
      const at = (this.rxHead + i) % this.capacity;
      rx[i] = this.rxData[at]!;
      rxFlags[i] = this.rxFlags[at]!;
    }
    return {
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      fcr: this.fcr,
      scr: this.scr,
      dll: this.dll,
      dlm: this.dlm,
      lsrLatch: this.lsrLatch,
      msr: this.msr,
      threPending: this.threPending,
      rx,
      rxFlags,
    };
  }

  restore(record: StateRecord, version: number): void {
    const s = readUartState(record, version);
    this.ier = s.ier;
    this.lcr = s.lcr;
    this.mcr = s.mcr;
    this.fcr = s.fcr;
    this.scr = s.scr;
    this.dll = s.dll;
    this.dlm = s.dlm;
    this.msr = s.msr;
    this.threPending = s.threPending;
    this.clearRx();
    // A snapshot from a deeper FIFO keeps what fits, as an overrun would.
    for (let i = 0; i < s.rx.length; i++) this.receive(s.rx[i]!, s.rxFlags[i] ?? 0);
    this.lsrLatch = s.lsrLatch | (this.lsrLatch & LSR_OE);
    this.irqLevel = this.interruptId() !== IIR_NONE;
    this.irq(this.irqLevel);
  }
}
