package httpapi

// SafePathForTest and SafeQueryForTest expose safePath and safeQuery to the
// external tests.
var (
	SafePathForTest  = safePath
	SafeQueryForTest = safeQuery
)
