import { ipv4ToNumber, macToNumber } from "../wire/address.js";
import { buildEthernet, ETHERTYPE_IPV4, parseEthernet } from "../wire/ethernet.js";
import { buildIcmpEcho, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, parseIcmpEcho } from "../wire/icmp.js";
import { buildIpv4, IP_PROTO_ICMP, ipv4Header, parseIpv4 } from "../wire/ipv4.js";

/**
 * A stand-in VM for tests and the bench: a NIC that answers ICMP echo addressed to it, replying to
 * the sender's MAC (the switch answers ARP, so the VM needs no ARP of its own). Keeps every frame it
 * received unless `keep` is false (the bench only counts).
 */
export function echoVm(mac: string, ip: string, send: (frame: Buffer) => void, keep = true) {
  const myMac = macToNumber(mac);
  const myIp = ipv4ToNumber(ip);
  const received: Buffer[] = [];
  const stats = { frames: 0 };
  const output = (frame: Uint8Array): boolean => {
    stats.frames++;
    if (keep) received.push(Buffer.from(frame));
    const eth = parseEthernet(frame);
    if (!eth.ok || eth.value.etherType !== ETHERTYPE_IPV4 || eth.value.dst !== myMac) return true;
    const packet = parseIpv4(eth.value.payload);
    if (!packet.ok || packet.value.dst !== myIp || packet.value.protocol !== IP_PROTO_ICMP) return true;
    const echo = parseIcmpEcho(packet.value.payload);
    if (!echo.ok || echo.value.type !== ICMP_ECHO_REQUEST) return true;
    const reply = buildIcmpEcho({ ...echo.value, type: ICMP_ECHO_REPLY });
    const ipReply = buildIpv4(ipv4Header(myIp, packet.value.src, IP_PROTO_ICMP), reply);
    // Replied on the next turn, as a NIC would, not from inside the switch's call.
    setImmediate(() =>
      send(buildEthernet({ dst: eth.value.src, src: myMac, etherType: ETHERTYPE_IPV4 }, ipReply)),
    );
    return true;
  };
  return { output, received, stats };
}

/** An ICMP echo request frame, e.g. to try to cross from one network to another. */
export function echoRequest(srcMac: string, dstMac: string, srcIp: string, dstIp: string): Buffer {
  const icmp = buildIcmpEcho({ type: ICMP_ECHO_REQUEST, code: 0, id: 1, seq: 1, data: Buffer.from("cross") });
  return buildEthernet(
    { dst: macToNumber(dstMac), src: macToNumber(srcMac), etherType: ETHERTYPE_IPV4 },
    buildIpv4(ipv4Header(ipv4ToNumber(srcIp), ipv4ToNumber(dstIp), IP_PROTO_ICMP), icmp),
  );
}
