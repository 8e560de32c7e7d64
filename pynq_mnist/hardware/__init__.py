"""The hardware description: registers, weight layout, block design, and the files made from them.

``regmap`` (the accelerator's registers, one table), ``pg021`` (the AXI DMA's),
``weights`` (the weight window's layout), ``boards`` (the boards and their PS
families), ``design`` (block-design names, addresses, DMA build, FCLK0),
``netlist``, ``ps_parameters`` and ``hwh`` (the ``.hwh`` of any board), ``tcl``
(``overlay/config.tcl``), ``vh`` (``hw/rtl/mnist_regmap.vh``) and ``generate``,
the one command that writes or checks the generated files.
"""
