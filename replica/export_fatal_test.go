package replica

// IsFatalForTest exposes isFatal to the package's external tests.
var IsFatalForTest = isFatal
