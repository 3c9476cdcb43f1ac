/** What the switch needs from the overlay: send a frame to a node's endpoint under a VNI, receive datagrams. */
export interface OverlayTransport {
  send(host: string, port: number, vni: number, frame: Uint8Array): void;
  /** Raw datagrams with their sender; the switch checks the sender and decapsulates. */
  onDatagram(handler: (datagram: Buffer, host: string, port: number) => void): void;
}
