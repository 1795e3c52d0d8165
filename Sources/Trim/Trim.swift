/// The minimizer and the btfhub sweep. Being written (issue 3).
public enum Trim {}
