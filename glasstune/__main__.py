from glasstune.cli import main

main()
