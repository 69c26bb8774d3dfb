from k49.cli import main

main()
