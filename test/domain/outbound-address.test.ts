import { describe, expect, it } from "vitest";
import { checkAddress, checkHost, NO_ALLOWANCE, parseNetworkAllowance, specialBlockOf } from "../../src/domain/outbound-address.js";
import { checkSourceUrl } from "../../src/domain/source-url.js";

// First, middle and last address of each block of the IANA special-purpose registries (and the
// blocks outside them that are not global unicast), with the block each must be named.
const REFUSED: [string, string][] = [
  ["0.0.0.0", "this_network"],
  ["0.255.255.255", "this_network"],
  ["10.0.0.0", "private_use"],
  ["10.128.7.1", "private_use"],
  ["10.255.255.255", "private_use"],
  ["100.64.0.0", "shared_address_space"],
  ["100.127.255.255", "shared_address_space"],
  ["127.0.0.1", "loopback"],
  ["127.255.255.254", "loopback"],
  ["169.254.169.254", "link_local"],
  ["172.16.0.0", "private_use"],
  ["172.31.255.255", "private_use"],
  ["192.0.0.0", "ietf_protocol_assignments"],
  ["192.0.0.9", "ietf_protocol_assignments"],
  ["192.0.0.170", "ietf_protocol_assignments"],
  ["192.0.2.1", "documentation"],
  ["192.31.196.1", "as112"],
  ["192.52.193.1", "amt"],
  ["192.88.99.1", "6to4_relay_anycast"],
  ["192.168.0.1", "private_use"],
  ["192.168.255.255", "private_use"],
  ["192.175.48.1", "as112"],
  ["198.18.0.1", "benchmarking"],
  ["198.19.255.255", "benchmarking"],
  ["198.51.100.7", "documentation"],
  ["203.0.113.255", "documentation"],
  ["224.0.0.1", "multicast"],
  ["239.255.255.250", "multicast"],
  ["240.0.0.1", "reserved"],
  ["255.255.255.254", "reserved"],
  ["255.255.255.255", "reserved"],
  ["::", "unspecified"],
  ["::1", "loopback"],
  ["::ffff:127.0.0.1", "loopback"],
  ["::ffff:7f00:1", "loopback"],
  ["::ffff:10.0.0.1", "private_use"],
  ["::ffff:169.254.169.254", "link_local"],
  ["::127.0.0.1", "ipv4_compatible"],
  ["::7f00:1", "ipv4_compatible"],
  ["::8.8.8.8", "ipv4_compatible"],
  ["64:ff9b::7f00:1", "nat64"],
  ["64:ff9b::8.8.8.8", "nat64"],
  ["64:ff9b:1::a00:1", "nat64_local_use"],
  ["100::1", "discard_only"],
  ["100:0:0:1::1", "dummy_prefix"],
  ["2001::1", "teredo"],
  ["2001:0:4136:e378:8000:63bf:80ff:fffe", "teredo"],
  ["2001:2::1", "ietf_protocol_assignments"],
  ["2001:1ff:ffff::1", "ietf_protocol_assignments"],
  ["2001:db8::1", "documentation"],
  ["2002:7f00:1::1", "6to4"],
  ["2002:0808:0808::1", "6to4"],
  ["2620:4f:8000::1", "as112"],
  ["3fff::1", "documentation"],
  ["3fff:fff:ffff::1", "documentation"],
  ["5f00::1", "srv6_sids"],
  ["fc00::1", "unique_local"],
  ["fd00:ec2::254", "unique_local"],
  ["fdff:ffff::1", "unique_local"],
  ["fe80::1", "link_local"],
  ["febf::1", "link_local"],
  ["fec0::1", "site_local"],
  ["ff02::1", "multicast"],
  ["ff05::1:3", "multicast"],
  ["4000::1", "not_global_unicast"],
  ["1::1", "not_global_unicast"],
];

const PUBLIC = [
  "8.8.8.8",
  "1.1.1.1",
  "93.184.215.14",
  "100.63.255.255",
  "100.128.0.0",
  "172.15.255.255",
  "172.32.0.0",
  "192.0.1.255",
  "198.17.255.255",
  "198.20.0.0",
  "223.255.255.255",
  "2606:4700::1111",
  "2001:4860:4860::8888",
  "2a00:1450:4001::1",
  "::ffff:8.8.8.8",
  "2001:200::1",
];

describe("outbound address classification", () => {
  it.each(REFUSED)("%s is refused as %s", (address, block) => {
    expect(specialBlockOf(address)).toBe(block);
    expect(checkAddress(address, NO_ALLOWANCE)).toEqual({ ok: false, address, block });
    expect(checkHost(address.includes(":") ? `[${address}]` : address, NO_ALLOWANCE)).toEqual({ ok: false, block });
  });

  it.each(PUBLIC)("%s is ordinary global unicast", (address) => {
    expect(specialBlockOf(address)).toBeNull();
    expect(checkAddress(address, NO_ALLOWANCE).ok).toBe(true);
  });

  it.each(["0x7f000001", "2130706433", "127.1", "0177.0.0.1", "127.000.000.001", "fe80::1%eth0", "1.2.3.4.5", "", "[::1"])(
    "%j is not taken for an address (only canonical literals are)",
    (s) => {
      expect(specialBlockOf(s)).toBe("not_an_address");
      expect(checkAddress(s, { all: false, networks: parseNetworkAllowance("0.0.0.0/0,::/0")!.networks }).ok).toBe(false);
    },
  );

  it.each([
    "localhost",
    "localhost.",
    "LOCALHOST",
    "api.localhost",
    "printer.local",
    "printer.local.",
    "metadata.google.internal",
    "router.home.arpa",
    "intranet",
    "intranet.",
    "box.localdomain",
    "0x7f000001",
    "10.1",
    "",
  ])("the host name %j is refused before any lookup", (name) => {
    expect(checkHost(name, NO_ALLOWANCE).ok).toBe(false);
  });

  it.each(["calendar.google.com", "outlook.office365.com", "example.com.", "xn--bcher-kva.example"])("the host name %j may be looked up", (name) => {
    expect(checkHost(name, NO_ALLOWANCE)).toEqual({ ok: true, literal: false });
  });

  it("the operator allowance opens exactly its networks, in either spelling of a mapped address", () => {
    const allow = parseNetworkAllowance("127.0.0.1, 10.20.0.0/16,fd00::/8")!;
    expect(checkAddress("127.0.0.1", allow).ok).toBe(true);
    expect(checkAddress("::ffff:127.0.0.1", allow).ok).toBe(true);
    expect(checkAddress("127.0.0.2", allow)).toEqual({ ok: false, address: "127.0.0.2", block: "loopback" });
    expect(checkAddress("10.20.255.1", allow).ok).toBe(true);
    expect(checkAddress("10.21.0.1", allow).ok).toBe(false);
    expect(checkAddress("fd12::1", allow).ok).toBe(true);
    expect(checkAddress("::1", allow).ok).toBe(false);
    expect(checkHost("localhost", allow).ok).toBe(false);
    expect(parseNetworkAllowance("true")).toEqual({ all: true, networks: [] });
    expect(parseNetworkAllowance("")).toEqual(NO_ALLOWANCE);
    expect(parseNetworkAllowance("false")).toEqual(NO_ALLOWANCE);
    for (const bad of ["yes", "localhost", "10.0.0.0/33", "127.1"]) expect(parseNetworkAllowance(bad), bad).toBeNull();
  });

  it("a subscribed calendar URL is checked by the same rules when the source is created", () => {
    const opts = { publicBaseUrl: "https://cal.example.test", allowance: NO_ALLOWANCE };
    for (const url of [
      "https://[::127.0.0.1]/c.ics",
      "https://[64:ff9b::7f00:1]/c.ics",
      "https://localhost./c.ics",
      "https://198.18.0.1/c.ics",
      "https://224.0.0.1/c.ics",
      "https://255.255.255.255/c.ics",
      "https://0x7f000001/c.ics",
      "https://[::ffff:127.0.0.1]/c.ics",
      "https://[fd00:ec2::254]/c.ics",
    ]) {
      expect(checkSourceUrl(url, opts), url).toMatchObject({ ok: false, code: "private_host" });
    }
    expect(checkSourceUrl("http://127.0.0.1:8080/c.ics", opts)).toMatchObject({ ok: false, code: "insecure_scheme" });
    expect(checkSourceUrl("http://8.8.8.8/c.ics", { ...opts, allowance: parseNetworkAllowance("127.0.0.1")! })).toMatchObject({
      ok: false,
      code: "insecure_scheme",
    });
    expect(checkSourceUrl("http://127.0.0.1:8080/c.ics", { ...opts, allowance: parseNetworkAllowance("127.0.0.1")! })).toMatchObject({ ok: true });
    expect(checkSourceUrl("webcal://calendar.example.com/c.ics", opts)).toEqual({ ok: true, url: "https://calendar.example.com/c.ics" });
  });
});
