/// A run once its programs are attached: events and `bpf_printk` lines printed as they come, the
/// result maps every interval, until told to stop or the duration is over; then the last events,
/// the programs detached, and the maps as the programs left them.
public struct EventLoop {
    public var stream: EventStream
    /// Prints the events (`stream`'s handler is expected to print through it) and the trace lines.
    public var printer: EventPrinter
    /// `trace_pipe`, when a program calls `bpf_printk`.
    public var tracePipe: TracePipe?
    /// The result maps, printed every `interval` and at the end.
    public var maps: MapPrinter?
    /// Stop after this long (`nil`: only when told to).
    public var duration: Duration?
    /// Print the maps this often as well as at the end (`nil`: at the end only).
    public var interval: Duration?

    public init(stream: EventStream, printer: EventPrinter, tracePipe: TracePipe? = nil, maps: MapPrinter? = nil,
                duration: Duration? = nil, interval: Duration? = nil) {
        self.stream = stream
        self.printer = printer
        self.tracePipe = tracePipe
        self.maps = maps
        self.duration = duration
        self.interval = interval
    }

    /// Polls until `shouldStop` returns true (asked before every poll, which waits at most 100 ms:
    /// a flag a signal handler sets is seen at once, as a signal also ends the wait) or the
    /// duration is over. Then reads what is left, calls `detach`, and prints the last trace lines
    /// and the maps (detached programs change them no more).
    public func run(detach: () -> Void, until shouldStop: () -> Bool) throws(BPFLoaderError) {
        let clock = ContinuousClock()
        let deadline = duration.map { clock.now + $0 }
        var nextPrint = interval.map { clock.now + $0 }
        while !shouldStop() {
            if let deadline, clock.now >= deadline { break }
            try stream.poll(timeoutMilliseconds: tracePipe == nil ? 100 : 50)
            if let tracePipe { printer.printTraceLines(tracePipe.drain()) }
            if let due = nextPrint, clock.now >= due, let interval {
                try maps?.printMaps(final: false)
                nextPrint = due + interval
            }
        }
        try stream.poll(timeoutMilliseconds: 0)
        detach()
        if let tracePipe { printer.printTraceLines(tracePipe.drain()) }
        try maps?.printMaps(final: true)
    }
}
