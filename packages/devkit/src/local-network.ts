/**
 * The VPS networks' MTU on a cluster whose nodes all run on this host (`npm start`, the end-to-end
 * tests, the chaos run, the network bench): the overlay runs over loopback, which carries far more
 * than a jumbo frame and its 50 bytes of VXLAN, so the networks take the largest MTU Skiff allows.
 * A region on a real underlay sets SKIFF_NETWORK_MTU from that underlay instead (1450 for 1500).
 */
export const LOCAL_NETWORK_MTU = 9000;
