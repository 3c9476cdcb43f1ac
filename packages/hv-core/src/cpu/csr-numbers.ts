/** CSR addresses (Privileged spec §2.2, tables 2.1–2.5) that this hart implements. */
export const Csr = {
  // Unprivileged counters
  cycle: 0xc00,
  time: 0xc01,
  instret: 0xc02,
  cycleh: 0xc80,
  timeh: 0xc81,
  instreth: 0xc82,
  // Supervisor
  sstatus: 0x100,
  sie: 0x104,
  stvec: 0x105,
  scounteren: 0x106,
  senvcfg: 0x10a,
  sscratch: 0x140,
  sepc: 0x141,
  scause: 0x142,
  stval: 0x143,
  sip: 0x144,
  satp: 0x180,
  // Machine information
  mvendorid: 0xf11,
  marchid: 0xf12,
  mimpid: 0xf13,
  mhartid: 0xf14,
  mconfigptr: 0xf15,
  // Machine trap setup and handling
  mstatus: 0x300,
  misa: 0x301,
  medeleg: 0x302,
  mideleg: 0x303,
  mie: 0x304,
  mtvec: 0x305,
  mcounteren: 0x306,
  menvcfg: 0x30a,
  mstatush: 0x310,
  menvcfgh: 0x31a,
  mcountinhibit: 0x320,
  mscratch: 0x340,
  mepc: 0x341,
  mcause: 0x342,
  mtval: 0x343,
  mip: 0x344,
  // Physical memory protection: pmpcfg0..15, pmpaddr0..63 (§3.7)
  pmpcfg0: 0x3a0,
  pmpaddr0: 0x3b0,
  // Debug trigger module (Debug spec 0.13 §5.2): present as "no triggers"
  tselect: 0x7a0,
  tdata1: 0x7a1,
  tdata2: 0x7a2,
  tdata3: 0x7a3,
  tinfo: 0x7a4,
  mcycle: 0xb00,
  minstret: 0xb02,
  mcycleh: 0xb80,
  minstreth: 0xb82,
} as const;

/** mstatus fields for RV32 (Privileged spec §3.1.6). */
export const MS = {
  SIE: 1 << 1,
  MIE: 1 << 3,
  SPIE: 1 << 5,
  MPIE: 1 << 7,
  SPP: 1 << 8,
  MPP_SHIFT: 11,
  MPP: 3 << 11,
  MPRV: 1 << 17,
  SUM: 1 << 18,
  MXR: 1 << 19,
  TVM: 1 << 20,
  TW: 1 << 21,
  TSR: 1 << 22,
} as const;

/** Bits of mstatus software may write (FS/VS/XS are read-only zero: no F, V or custom state). */
export const MSTATUS_WRITABLE =
  MS.SIE | MS.MIE | MS.SPIE | MS.MPIE | MS.SPP | MS.MPP | MS.MPRV | MS.SUM | MS.MXR | MS.TVM | MS.TW | MS.TSR;
/** The sstatus view of mstatus. */
export const SSTATUS_MASK = MS.SIE | MS.SPIE | MS.SPP | MS.SUM | MS.MXR;

/** misa: MXL=1 (32-bit), extensions A, I, M, S, U. */
export const MISA = (1 << 30) | (1 << 0) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20);

/** Interrupts S-mode may see and that M-mode may delegate: SSI, STI, SEI. */
export const S_INTERRUPTS = (1 << 1) | (1 << 5) | (1 << 9);
export const ALL_INTERRUPTS = S_INTERRUPTS | (1 << 3) | (1 << 7) | (1 << 11);
/** Exceptions M-mode may delegate: every cause 0..15 except ecall from M (11) and reserved 10, 14. */
export const DELEGABLE_EXCEPTIONS = 0xffff & ~((1 << 11) | (1 << 10) | (1 << 14));
