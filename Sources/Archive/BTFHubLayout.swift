/// btfhub layout, kernel identity and xz/tar streaming. Being written (issue 3).
public enum BTFHubLayout {}
