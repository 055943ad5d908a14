"""The failclosed GitHub App: webhook -> job -> fetch PR -> analyze -> publish.

Data flows in that one direction. `app/` never touches libcst itself: it calls `analyzers`.
"""
