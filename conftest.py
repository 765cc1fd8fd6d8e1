pytest_plugins = ["omnigen.testing.fixtures"]
