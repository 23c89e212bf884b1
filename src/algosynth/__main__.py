from algosynth.cli import main

main()
