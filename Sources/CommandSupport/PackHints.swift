/// What btf-run and btf-pack tell a user to do about a pack, naming the toolkit's commands (the
/// libraries' errors carry only the kind of remedy: `BTFRuntimeError.Remedy`).
public enum PackHints {
    /// For an executable without a pack.
    public static let embedPack = "add one with `btf-pack embed PACK --into BINARY -o OUT` or link the output of `btf-pack emit-asm`"

    /// For a pack trimmed for other CO-RE relocations than the object's; `allowStaleVariable` is
    /// the environment variable that accepts it anyway.
    public static func repackForObject(allowStaleVariable: String) -> String {
        "trim and pack again for this object (btf-pack runner --object OBJ --btfhub DIR), or set \(allowStaleVariable)=1 to use it anyway"
    }
}
