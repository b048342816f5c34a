"""Diagrams and generated documentation, drawn from the one declaration in `dbfsm.fsm.graph`.

`views` cuts views out of the graphs, `render` writes Mermaid, DOT, SVG and PNG, `diagram`
is `dbfsm diagram`, and `generate` (`python -m dbfsm.docs`) rewrites docs/.
"""
