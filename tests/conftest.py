pytest_plugins = ["probspace.testing.plugin"]
