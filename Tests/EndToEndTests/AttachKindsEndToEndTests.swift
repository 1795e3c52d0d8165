import Foundation
@testable import TestSupport
import Testing

/// btf-run's attach kinds beyond libbpf's auto-attach, for real and as root: a perf_event
/// sampler on every online CPU, XDP and tc on a veth pair into a network namespace the test
/// makes (packets sent through it), each detached on exit.
@Suite("btf-run attach kinds: perf_event, xdp, tc (root)", .serialized,
       .enabled(if: EndToEnd.shouldRun, "needs root, unshare and ip (CI runs it as root)"))
struct AttachKindsEndToEndTests {
    static func object(_ name: String) throws -> String { try RunnerObjects.compiled(name) }

    /// The event records of btf-run's --json output (the result maps printed at exit are a document of their own).
    static func jsonLines(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
            .filter { $0["maps"] == nil }
    }

    @Test("perf_event: cpu-clock samples on every online CPU at --sample-freq, the stack map sized by default; kernel BTF hidden")
    func perfEventSampler() throws {
        let btfRun = try PackFixtures.product("btf-run")
        let directory = PackFixtures.temporaryPath("perf-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: "/sys/kernel/btf/vmlinux", toPath: directory + "/vmlinux.btf")
        // dd from /dev/zero runs in the kernel: samples that interrupt it have a kernel stack even
        // when the other tests keep every CPU busy in user code (where bpf_get_stackid of the
        // kernel stack fails).
        let script = """
        mount -t tmpfs none /sys/kernel/btf || exit 90
        timeout 3 dd if=/dev/zero of=/dev/null bs=64k 2>/dev/null &
        "$1" "$2" --btf "$3/vmlinux.btf" --event-type profile_sample --json -v --duration 2 --sample-freq 25 > "$3/events" 2> "$3/log"
        status=$?
        wait
        exit $status
        """
        let result = try PackFixtures.runWithEnvironment(try TestSupport.which("unshare"),
                                                         ["-m", "sh", "-c", script, "sh", btfRun, try Self.object("profile_sampler"), directory], [:])
        let log = (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? ""
        let events = Self.jsonLines((try? String(contentsOfFile: directory + "/events", encoding: .utf8)) ?? "")
        #expect(result.status == 0, "\(log) \(result.stderr)")
        #expect(log.contains("attached do_sample (section perf_event) to perf event cpu-clock at 25 Hz on every online CPU"), "\(log)")
        #expect(log.contains("map stacks (stack_trace, max_entries 10240, value 1016 bytes)"), "\(log)")
        let online = try String(contentsOfFile: "/sys/devices/system/cpu/online", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        var cpus = Set<Int>()
        for range in online.split(separator: ",") {
            let ends = range.split(separator: "-").compactMap { Int($0) }
            cpus.formUnion(ends.count == 2 ? Set(ends[0] ... ends[1]) : Set(ends))
        }
        let sampled = Set(events.compactMap { $0["cpu"] as? Int })
        #expect(sampled == cpus, "samples from every online CPU (\(online)): \(sampled)")
        // 25 Hz for 2 s on each CPU: about 50 per CPU (the timer runs whether the CPU is busy or idle).
        #expect(events.count >= 20 * cpus.count && events.count <= 80 * cpus.count, "\(events.count) samples on \(cpus.count) CPUs")
        #expect(events.contains { ($0["kernel_stack"] as? Int ?? -1) >= 0 },
                "some sample has a kernel stack in the map; the stack ids (negative: an errno) were \(Set(events.map { "\($0["kernel_stack"] ?? "none")" }).sorted())")
    }

    @Test("xdp and tc on a veth pair: packets seen at XDP ingress and tc egress; after SIGTERM the clsact qdisc btf-run made is gone")
    func xdpAndTC() throws {
        let btfRun = try PackFixtures.product("btf-run")
        let directory = PackFixtures.temporaryPath("net-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let suffix = String(UInt32.random(in: 0 ... 99999))
        // 16-byte UDP payload in (58-byte frames), 20 bytes out (62): tells the two packets apart.
        let script = """
        set -u
        btfrun=$1; object=$2; out=$3; n=$4
        ns=btfkitns$n; a=bka$n; b=bkb$n
        ip netns add $ns || exit 80
        trap 'ip link del $a 2>/dev/null; ip netns del $ns' EXIT
        ip link add $a type veth peer name $b || exit 81
        ip link set $b netns $ns
        ip addr add 10.231.7.1/24 dev $a && ip link set $a up
        ip netns exec $ns ip addr add 10.231.7.2/24 dev $b && ip netns exec $ns ip link set $b up
        cat /sys/class/net/$a/ifindex > "$out/ifindex"
        "$btfrun" "$object" --attach xdp_count=$a --attach tc_count=$a:egress --event-type netcount_event --json -v --duration 30 > "$out/events" 2> "$out/log" &
        pid=$!
        i=0
        while ! grep -q "streaming events" "$out/log" 2>/dev/null && kill -0 $pid 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
        tc qdisc show dev $a > "$out/qdisc-during"
        ip netns exec $ns bash -c 'echo -n btfkit-xdp-probe! > /dev/udp/10.231.7.1/9; sleep 0.3; echo -n btfkit-xdp-probe > /dev/udp/10.231.7.1/9'
        bash -c 'echo -n btfkit-tc-egress-pkt > /dev/udp/10.231.7.2/9; sleep 0.3; echo -n btfkit-tc-egress-pkt > /dev/udp/10.231.7.2/9'
        sleep 0.5
        kill -TERM $pid
        wait $pid
        status=$?
        tc qdisc show dev $a > "$out/qdisc-after"
        ip link show $a > "$out/link-after"
        exit $status
        """
        try script.write(toFile: directory + "/net.sh", atomically: true, encoding: .utf8)
        let result = try PackFixtures.runWithEnvironment(try TestSupport.which("sh"),
                                                         [directory + "/net.sh", btfRun, try Self.object("netcount"), directory, suffix], [:])
        let read = { (name: String) in (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? "" }
        let log = read("log")
        #expect(result.status == 0, "\(log) \(result.stderr)")
        let ifindex = Int(read("ifindex").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        let events = Self.jsonLines(read("events"))
        let xdp = events.filter { $0["hook"] as? Int == 1 }
        let tc = events.filter { $0["hook"] as? Int == 2 }
        #expect(xdp.contains { $0["len"] as? Int == 58 && $0["ifindex"] as? Int == ifindex }, "the UDP packet in, at XDP: \(events) \(log)")
        #expect(tc.contains { $0["len"] as? Int == 62 && $0["ifindex"] as? Int == ifindex }, "the UDP packet out, at tc egress: \(events) \(log)")
        #expect(!xdp.contains { $0["len"] as? Int == 62 }, "XDP sees only what comes in")
        #expect(log.contains("attached xdp_count (section xdp) to xdp bka\(suffix) ("), "\(log)")
        #expect(log.contains("attached tc_count (section tc) to tc bka\(suffix) egress"), "\(log)")
        #expect(log.contains("btf-run: detached"), "SIGTERM ends the run cleanly: \(log)")
        #expect(read("qdisc-during").contains("clsact"), "\(read("qdisc-during"))")
        #expect(!read("qdisc-after").contains("clsact"), "the clsact qdisc btf-run created is removed: \(read("qdisc-after"))")
        #expect(!read("link-after").contains("xdp"), "no XDP program left on the interface: \(read("link-after"))")
    }

    @Test("usdt: a <sys/sdt.h> probe of a test program, its arguments read by BPF_USDT; kernel BTF hidden")
    func usdtProbe() throws {
        let btfRun = try PackFixtures.product("btf-run")
        let directory = PackFixtures.temporaryPath("usdt-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
        #include <sys/sdt.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <unistd.h>
        int main(int argc, char **argv)
        {
        \tlong base = argc > 1 ? atol(argv[1]) : 1000;
        \tfor (int n = 1; n <= 3; n++) {
        \t\tlong value = base * n;
        \t\tDTRACE_PROBE2(btfkit, tick, n, value);
        \t}
        \tprintf("%d\\n", getpid());
        \treturn 0;
        }
        """.write(toFile: directory + "/ticker.c", atomically: true, encoding: .utf8)
        let compiled = try TestSupport.run("cc", ["-O1", "-o", directory + "/ticker", directory + "/ticker.c"])
        try #require(compiled.status == 0, "cc (sys/sdt.h is Debian's systemtap-sdt-dev): \(compiled.stderr)")
        try FileManager.default.copyItem(atPath: "/sys/kernel/btf/vmlinux", toPath: directory + "/vmlinux.btf")
        let script = """
        mount -t tmpfs none /sys/kernel/btf || exit 90
        "$1" "$2" --btf "$3/vmlinux.btf" --attach "handle_tick=$3/ticker:btfkit:tick" --event-type usdt_tick_event --json -v --duration 3 > "$3/events" 2> "$3/log" &
        pid=$!
        i=0
        while ! grep -q "streaming events" "$3/log" 2>/dev/null && kill -0 $pid 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
        "$3/ticker" 7 > "$3/pid"
        wait $pid
        """
        let result = try PackFixtures.runWithEnvironment(try TestSupport.which("unshare"),
                                                         ["-m", "sh", "-c", script, "sh", btfRun, try Self.object("usdt_ticks"), directory], [:])
        let read = { (name: String) in (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? "" }
        #expect(result.status == 0, "\(read("log")) \(result.stderr)")
        let pid = Int(read("pid").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        let events = Self.jsonLines(read("events"))
        #expect(events.map { $0["n"] as? Int ?? 0 } == [1, 2, 3], "\(events) \(read("log"))")
        #expect(events.map { $0["value"] as? Int ?? 0 } == [7, 14, 21])
        #expect(events.allSatisfy { $0["pid"] as? Int == pid })
    }

    @Test("--attach for perf_event, xdp, tc and usdt targets is parsed and checked before loading")
    func attachTargetForms() throws {
        let btfRun = try PackFixtures.product("btf-run")
        let net = try Self.object("netcount")
        let bad = try PackFixtures.runWithEnvironment(btfRun, [net, "--attach", "tc_count=eth0:sideways", "--duration", "1"], [:])
        #expect(bad.status == 1 && bad.stderr.contains("IFNAME:ingress or IFNAME:egress"), "\(bad.stderr)")
        let profile = try Self.object("profile_sampler")
        let event = try PackFixtures.runWithEnvironment(btfRun, [profile, "--attach", "do_sample=instructions:99", "--duration", "1"], [:])
        #expect(event.status == 1 && event.stderr.contains("cpu-clock, task-clock, page-faults, cycles"), "\(event.stderr)")
        let missing = try PackFixtures.runWithEnvironment(btfRun, [net, "--attach", "xdp_count=btfkitnone0", "--duration", "1"], [:])
        #expect(missing.status == 1 && missing.stderr.contains("not attached to xdp btfkitnone0: No such device"), "\(missing.stderr)")
    }
}
