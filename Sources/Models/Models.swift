// Models: filled by later issues (see DESIGN.md for what belongs here).
