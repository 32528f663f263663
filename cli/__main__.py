from stoppoc.cli.main import main

main()
