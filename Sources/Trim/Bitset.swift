/// A fixed-size set of small integers (type ids, word indices), one bit each.
///
/// The minimizer marks a few hundred types among up to a million, so membership must be O(1) with no
/// allocation per element, and iterating the members must skip empty stretches 64 at a time.
struct Bitset: Sendable {
    private var storage: [UInt64]
    /// One more than the largest integer the set can hold.
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        storage = [UInt64](repeating: 0, count: (capacity + 63) / 64)
    }

    @inline(__always)
    func contains(_ element: Int) -> Bool {
        storage[element >> 6] & (1 << UInt64(element & 63)) != 0
    }

    /// Adds `element`; returns `true` if it was not present before.
    @inline(__always)
    @discardableResult
    mutating func insert(_ element: Int) -> Bool {
        let bit: UInt64 = 1 << UInt64(element & 63)
        let word = storage[element >> 6]
        if word & bit != 0 { return false }
        storage[element >> 6] = word | bit
        return true
    }

    /// Calls `body` with every member, in increasing order.
    @inline(__always)
    func forEach(_ body: (Int) throws -> Void) rethrows {
        for (wordIndex, var word) in storage.enumerated() where word != 0 {
            while word != 0 {
                let bit = word.trailingZeroBitCount
                try body(wordIndex << 6 | bit)
                word &= word - 1
            }
        }
    }

    /// The number of members.
    var count: Int { storage.reduce(0) { $0 + $1.nonzeroBitCount } }
}
