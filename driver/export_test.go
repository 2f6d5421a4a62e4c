package driver

// ServerAddrForExamples gives the external example package the test server's address.
func ServerAddrForExamples() string { return exampleAddr }
