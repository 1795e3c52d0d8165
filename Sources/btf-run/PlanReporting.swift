import ArgumentParser
import BPFLoader
import BTF
import CommandSupport
import Glibc

/// Thrown by `--list` once the listing is printed: the run stops there, cleanly.
struct ListingDone: Error {}

extension BTFRunCommand {
    /// Under -v: each program's decision, each map whose size or type btf-run chose, each global set.
    func reportPlan(_ prepared: PreparedLoad, request: LoadRequest, to diagnostics: inout StandardError) {
        guard verbose >= 1 else { return }
        for decision in prepared.plan.decisions {
            print("btf-run: program \(decision.program.name) (section \(decision.program.section)): \(decision.loads ? "loads" : "not loaded"): \(decision.btfRunReason)",
                  to: &diagnostics)
        }
        for map in prepared.maps where !map.notes.isEmpty {
            print("btf-run: map \(map.name) (\(map.type), max_entries \(map.maxEntries), value \(map.valueSize) bytes): \(map.notes.map { $0.btfRunText(map: map.name) }.joined(separator: "; "))",
                  to: &diagnostics)
        }
        for assignment in request.assignments {
            print("btf-run: global \(assignment.name) (\(assignment.section)) set to \(assignment.text)", to: &diagnostics)
        }
    }

    /// A clear error before loading when the object has typed `__ksym` externs or kfuncs and the
    /// kernel has no BTF of its own (libbpf would fail the whole object with "failed to find
    /// valid kernel BTF").
    func checkKernelSymbols(_ facts: ObjectFacts, kernel: KernelFeatures, objectName: String) throws(BPFLoaderError) {
        let symbols = PlannedLoad.typedKernelSymbols(in: facts.btf)
        guard !symbols.isEmpty, !kernel.hasKernelBTF else { return }
        throw BPFLoaderError("\(objectName) uses typed __ksym externs or kfuncs (\(symbols.joined(separator: ", "))), which libbpf resolves against "
                             + "the kernel's own BTF, and this kernel has none (\(kernel.kernelBTFPath) is absent); a BTF file from a pack cannot "
                             + "serve them: build the object with untyped externs (extern const void NAME __ksym) or run it on a kernel with BTF")
    }

    /// `--help`, then the globals of the object this runner carries (what `--set` can change).
    static func printHelpWithGlobals(_ arguments: [String]) -> Never {
        print(helpMessage(columns: nil))
        if let bytes = try? EmbeddedObject.load(), let opened = try? LoadedBPFObject(bytes: bytes, name: "the embedded object", btfCustomPath: nil),
           let facts = try? ObjectFacts(objectBytes: bytes, object: opened) {
            print("\nGLOBALS (--set NAME=VALUE):")
            let globals = facts.globals.variables
            if globals.isEmpty { print("  (the embedded object has none)") }
            for global in globals {
                print("  \(global.name) (\(global.typeDescription), \(global.section)), default \(global.defaultValue.text)")
            }
        }
        Glibc.exit(0)
    }
}
