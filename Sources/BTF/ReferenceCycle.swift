extension BTF {
    /// A chain of references that comes back to where it started without passing through a
    /// pointer (`typedef pid_t pid_t`, a const of itself, an array of itself, a struct holding
    /// itself), or `nil`. C cannot express one; libbpf 1.1 walks such a chain forever
    /// (`skip_mods_and_typedefs`, `btf__resolve_size` have no step limit), so BTFKit never writes
    /// one and the runtime never hands one to libbpf. Returned as the type ids on the cycle, the
    /// first repeated at the end. Iterative: no recursion depth to exhaust on deep chains.
    public func pointerFreeCycle() -> [TypeID]? {
        let count = typeCount
        // 0 unvisited, 1 on the current path, 2 done.
        var state = [UInt8](repeating: 0, count: count)
        var path: [(id: UInt32, targets: [UInt32], next: Int)] = []
        for root in 1 ..< UInt32(max(count, 1)) where state[Int(root)] == 0 {
            state[Int(root)] = 1
            path.append((root, nonPointerReferences(TypeID(root)), 0))
            while !path.isEmpty {
                let top = path.count - 1
                guard path[top].next < path[top].targets.count else {
                    state[Int(path[top].id)] = 2
                    path.removeLast()
                    continue
                }
                let target = path[top].targets[path[top].next]
                path[top].next += 1
                switch state[Int(target)] {
                case 1:
                    let start = path.firstIndex { $0.id == target }!
                    return path[start...].map { TypeID($0.id) } + [TypeID(target)]
                case 0:
                    state[Int(target)] = 1
                    path.append((target, nonPointerReferences(TypeID(target)), 0))
                default:
                    break
                }
            }
        }
        return nil
    }

    /// The types `id`'s record refers to, except through a pointer; `void` and ids past the end left out.
    private func nonPointerReferences(_ id: TypeID) -> [UInt32] {
        let t = type(id)
        guard t.kind != .pointer else { return [] }
        var targets: [UInt32] = []
        t.kind.forEachTypeIDWord(vlen: t.vlen) { position in
            let target = words[t.start + position]
            if target != 0 && Int(target) < typeCount { targets.append(target) }
        }
        return targets
    }

    /// A cycle from `pointerFreeCycle` in words: `type 5 TYPEDEF 'pid_t' -> type 5`.
    public func describeCycle(_ cycle: [TypeID]) -> String {
        cycle.enumerated().map { index, id in
            if index == cycle.count - 1 && index > 0 { return "type \(id.rawValue)" }
            let t = type(id)
            let name = string(t.nameOffset)
            return "type \(id.rawValue) \(t.kind)" + (name.isEmpty ? "" : " '\(escapedForTerminal(name))'")
        }.joined(separator: " -> ")
    }
}
