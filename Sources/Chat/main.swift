// Placeholder entry point; the real command tree lands with the CLI.
print("teleguard")
