"""The hardware description: registers, weight layout, block design, and the files made from them.

``regmap`` (the accelerator's registers, one table), ``pg021`` (the AXI DMA's),
``weights`` (the weight window's layout), ``design`` (block-design names,
addresses, DMA build, FCLK0), ``netlist`` and ``hwh`` (the ``.hwh``), ``tcl``
(``overlay/config.tcl``), ``vh`` (``hw/rtl/mnist_regmap.vh``) and ``generate``,
the one command that writes or checks the three generated files.
"""
