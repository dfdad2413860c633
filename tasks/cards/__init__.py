"""Built-in task cards (YAML). A package only so that the files ship with the wheel."""
