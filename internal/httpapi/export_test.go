package httpapi

// SafePathForTest exposes safePath to the external tests.
var SafePathForTest = safePath
