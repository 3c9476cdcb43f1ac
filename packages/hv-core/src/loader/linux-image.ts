import { SkiffError } from "@skiff/common";
import type { Ram } from "../memory/ram.js";
import { openPayload, type PayloadSource } from "./payload.js";

/** Where the kernel goes: 4 MiB aligned (Linux rv32 checks it and ignores RAM below its load address). */
export const KERNEL_LOAD_ADDRESS = 0x8040_0000;

/** RISC-V Linux Image header (Documentation/riscv/boot-image-header.rst): "RSC\x05" at offset 56. */
const MAGIC2 = 0x05435352;
const HEADER_SIZE = 64;

export interface LinuxImage {
  loadAddress: number;
  entry: number;
  /** Memory the kernel occupies once running (text + data + bss), from the header. */
  imageSize: number;
  /** The file, copied whole to the load address. */
  file: PayloadSource;
}

/** Checks the header of `file` (its bytes, or a payload opened with openPayload). */
export function parseLinuxImage(file: Uint8Array | PayloadSource): LinuxImage {
  const source = file instanceof Uint8Array ? openPayload(file) : file;
  const header = source.head(HEADER_SIZE);
  if (header.length < HEADER_SIZE)
    throw new SkiffError("IMAGE_INVALID", "kernel image shorter than its header");
  const dv = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (dv.getUint32(56, true) !== MAGIC2) {
    throw new SkiffError(
      "IMAGE_INVALID",
      header[0] === 0x7f && header[1] === 0x45
        ? "this is an ELF (vmlinux), not a Linux Image"
        : "not a RISC-V Linux Image",
    );
  }
  const sizeLo = dv.getUint32(16, true);
  const sizeHi = dv.getUint32(20, true);
  if (sizeHi !== 0) throw new SkiffError("IMAGE_INVALID", "kernel image size beyond 4 GiB");
  const imageSize = Math.max(source.size, sizeLo);
  return { loadAddress: KERNEL_LOAD_ADDRESS, entry: KERNEL_LOAD_ADDRESS, imageSize, file: source };
}

/** Copies the kernel into RAM; the image plus its bss must fit. */
export function loadLinuxImage(image: LinuxImage, ram: Ram): void {
  if (!ram.contains(image.loadAddress, image.imageSize)) {
    throw new SkiffError(
      "IMAGE_TOO_LARGE",
      `kernel needs ${image.imageSize} bytes at 0x${image.loadAddress.toString(16)}; guest RAM is ${ram.size} bytes`,
    );
  }
  const off = image.loadAddress - ram.base;
  image.file.copyTo(ram.u8, off);
  ram.dirty.markRange(off, image.file.size);
}
