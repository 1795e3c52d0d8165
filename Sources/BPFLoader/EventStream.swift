import BTF
import CLibBPF
import Glibc

/// One record read from an event map.
public struct BPFEvent {
    /// The map it came from.
    public var map: String
    /// The CPU for perf-buffer records, `nil` for ring buffers.
    public var cpu: Int32?
    /// The record's bytes, as the program wrote them.
    public var bytes: UnsafeRawBufferPointer

    public init(map: String, cpu: Int32?, bytes: UnsafeRawBufferPointer) {
        self.map = map
        self.cpu = cpu
        self.bytes = bytes
    }
}

/// Reads ring buffers and perf buffers with libbpf (`ring_buffer__poll`, `perf_buffer__poll`) and
/// hands every record to a handler, on the polling thread, while `poll` runs.
public final class EventStream {
    /// Called for each record; the bytes are valid only during the call.
    public typealias Handler = (BPFEvent) -> Void
    /// Called when a perf buffer reports lost records (map, CPU, count).
    public typealias LostHandler = (String, Int32, UInt64) -> Void

    /// What each libbpf callback gets as `ctx`: the map's name and the handlers.
    final class MapContext {
        let map: String
        let handler: Handler
        let lost: LostHandler
        /// Ring-buffer records still to deliver in this `poll`: at zero the callback stops
        /// libbpf's loop (which otherwise drains a buffer filled as fast as it is read, forever).
        var budget = Int.max
        init(map: String, handler: @escaping Handler, lost: @escaping LostHandler) {
            self.map = map
            self.handler = handler
            self.lost = lost
        }
    }

    /// At most this many ring-buffer records per `poll` (so a stop request or an interval is seen).
    static let recordsPerPoll = 65536

    private var ringBuffer: OpaquePointer?
    private var perfBuffers: [OpaquePointer] = []
    private var contexts: [MapContext] = []

    /// Sets up readers for `maps` (of a loaded object). Perf buffers get `perfPagesPerCPU` pages per CPU.
    public init(maps: [EventMap], perfPagesPerCPU: Int = 64,
                handler: @escaping Handler, lost: @escaping LostHandler = { _, _, _ in }) throws(BPFLoaderError) {
        for map in maps {
            let context = MapContext(map: map.name, handler: handler, lost: lost)
            contexts.append(context)
            let pointer = Unmanaged.passUnretained(context).toOpaque()
            let mark = LibBPFLog.mark
            switch map.kind {
            case .ringBuffer:
                let sample: ring_buffer_sample_fn = { ctx, data, size in
                    let context = Unmanaged<MapContext>.fromOpaque(ctx!).takeUnretainedValue()
                    context.handler(BPFEvent(map: context.map, cpu: nil, bytes: UnsafeRawBufferPointer(start: data, count: size)))
                    context.budget -= 1
                    // Negative: libbpf keeps this record consumed and returns from the poll.
                    return context.budget <= 0 ? -ECANCELED : 0
                }
                if let ringBuffer {
                    let result = ring_buffer__add(ringBuffer, map.fd, sample, pointer)
                    if result != 0 {
                        throw BPFLoaderError("ring buffer \(map.name): ring_buffer__add failed: \(errnoText(result))" + LoadedBPFObject.because(since: mark), errnoCode: abs(result))
                    }
                } else {
                    guard let created = ring_buffer__new(map.fd, sample, pointer, nil) else {
                        let code = errno
                        throw BPFLoaderError("ring buffer \(map.name): ring_buffer__new failed: \(errnoText(code))" + LoadedBPFObject.because(since: mark), errnoCode: code)
                    }
                    ringBuffer = created
                }
            case .perfBuffer:
                let sample: perf_buffer_sample_fn = { ctx, cpu, data, size in
                    let context = Unmanaged<MapContext>.fromOpaque(ctx!).takeUnretainedValue()
                    context.handler(BPFEvent(map: context.map, cpu: cpu, bytes: UnsafeRawBufferPointer(start: data, count: Int(size))))
                }
                let lostSample: perf_buffer_lost_fn = { ctx, cpu, count in
                    let context = Unmanaged<MapContext>.fromOpaque(ctx!).takeUnretainedValue()
                    context.lost(context.map, cpu, count)
                }
                guard let created = perf_buffer__new(map.fd, perfPagesPerCPU, sample, lostSample, pointer, nil) else {
                    let code = errno
                    throw BPFLoaderError("perf buffer \(map.name): perf_buffer__new failed: \(errnoText(code))" + LoadedBPFObject.because(since: mark), errnoCode: code)
                }
                perfBuffers.append(created)
            }
        }
    }

    deinit {
        if let ringBuffer { ring_buffer__free(ringBuffer) }
        for buffer in perfBuffers { perf_buffer__free(buffer) }
    }

    /// Whether there is anything to read.
    public var isEmpty: Bool { ringBuffer == nil && perfBuffers.isEmpty }

    /// Waits up to `timeoutMilliseconds` for records and delivers them. Returns how many were
    /// delivered; `EINTR` (a signal) counts as zero, other failures throw.
    @discardableResult
    public func poll(timeoutMilliseconds: Int32) throws(BPFLoaderError) -> Int {
        let readers = (ringBuffer == nil ? 0 : 1) + perfBuffers.count
        guard readers > 0 else {
            usleep(UInt32(max(0, timeoutMilliseconds)) * 1000)
            return 0
        }
        // Each reader gets its share of the wait, so records from any of them are seen promptly.
        let share = max(1, timeoutMilliseconds / Int32(readers))
        var total = 0
        if let ringBuffer {
            for context in contexts { context.budget = Self.recordsPerPoll }
            let result = ring_buffer__poll(ringBuffer, share)
            if result == -ECANCELED {
                total += Self.recordsPerPoll  // the budget ran out: back to the caller, which polls again
            } else {
                if result < 0 && result != -EINTR { throw BPFLoaderError("ring_buffer__poll failed: \(errnoText(result))", errnoCode: abs(result)) }
                total += max(0, Int(result))
            }
        }
        for buffer in perfBuffers {
            let result = perf_buffer__poll(buffer, share)
            if result < 0 && result != -EINTR { throw BPFLoaderError("perf_buffer__poll failed: \(errnoText(result))", errnoCode: abs(result)) }
            total += max(0, Int(result))
        }
        return total
    }
}
