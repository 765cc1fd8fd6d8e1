pytest_plugins = ["omnigen.shared.testing.fixtures"]
