import ArgumentParser
import BPFLoader

/// btf-run's options for result maps (histograms and tables), printed at exit and every --interval.
struct MapOutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Print the result maps every SECONDS (and at exit).", valueName: "SECONDS"))
    var interval: Double?

    @Flag(help: "With --interval: empty the maps after each print, like bcc's tools (the default).")
    var clear = false

    @Flag(help: "With --interval: keep counting across intervals instead of emptying the maps.")
    var cumulative = false

    @Option(name: .customLong("map"), help: ArgumentHelp("Print only this result map (repeatable).", valueName: "NAME"))
    var maps: [String] = []

    @Option(name: .customLong("hide-map"), help: ArgumentHelp("Do not print this result map (repeatable).", valueName: "NAME"))
    var hiddenMaps: [String] = []

    @Option(help: ArgumentHelp("Print at most N table rows (largest values first) or per-key histograms.", valueName: "N"))
    var top: Int?

    @Flag(name: .customLong("per-cpu"), help: "Per-CPU maps: one row per CPU instead of the sum over CPUs.")
    var perCPU = false

    @Option(name: .customLong("hist-unit"), help: ArgumentHelp("The value column's name in histograms (bcc's val_type: usecs, kbytes ...).", valueName: "NAME"))
    var histogramUnit = "value"

    func validate() throws {
        if clear && cumulative { throw ValidationError("--clear and --cumulative contradict each other; give one") }
        if let interval, !(interval > 0) { throw ValidationError("--interval must be a positive number of seconds") }
        if let top, top < 1 { throw ValidationError("--top must be at least 1") }
    }

    /// What `MapPrinter` prints: periodic prints carry bcc's -T time line.
    var printOptions: MapPrintOptions {
        var options = MapPrintOptions()
        options.only = maps
        options.hidden = hiddenMaps
        options.report = MapReportOptions(top: top, perCPU: perCPU)
        options.cumulative = cumulative
        options.timestamps = interval != nil
        options.histogramUnit = histogramUnit
        return options
    }
}
