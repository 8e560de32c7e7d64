# overlay/package_ip.tcl: package hw/rtl (top mnist_top) as the Vivado IP
# $mnist::VLNV (UG1118, "Creating and Packaging Custom IP").
#
# Defines procs only; build.tcl sources it and calls mnist::package_ip. Every
# bus interface is declared here explicitly (no reliance on auto-inference),
# so the packaged IP does not depend on Vivado's naming heuristics, and
# tests/test_overlay.py can check each physical port against mnist_top.
# Requires config.tcl (generated from pynq_mnist/regmap.py) to be sourced.

namespace eval mnist {
    # {logical physical} pairs per bus interface. Physical names are the
    # mnist_top ports of docs/architecture.md.
    variable AXIL_PORT_MAP {
        AWADDR  s_axi_ctrl_awaddr
        AWPROT  s_axi_ctrl_awprot
        AWVALID s_axi_ctrl_awvalid
        AWREADY s_axi_ctrl_awready
        WDATA   s_axi_ctrl_wdata
        WSTRB   s_axi_ctrl_wstrb
        WVALID  s_axi_ctrl_wvalid
        WREADY  s_axi_ctrl_wready
        BRESP   s_axi_ctrl_bresp
        BVALID  s_axi_ctrl_bvalid
        BREADY  s_axi_ctrl_bready
        ARADDR  s_axi_ctrl_araddr
        ARPROT  s_axi_ctrl_arprot
        ARVALID s_axi_ctrl_arvalid
        ARREADY s_axi_ctrl_arready
        RDATA   s_axi_ctrl_rdata
        RRESP   s_axi_ctrl_rresp
        RVALID  s_axi_ctrl_rvalid
        RREADY  s_axi_ctrl_rready
    }
    variable S_AXIS_PORT_MAP {
        TDATA  s_axis_tdata
        TKEEP  s_axis_tkeep
        TLAST  s_axis_tlast
        TVALID s_axis_tvalid
        TREADY s_axis_tready
    }
    variable M_AXIS_PORT_MAP {
        TDATA  m_axis_tdata
        TKEEP  m_axis_tkeep
        TLAST  m_axis_tlast
        TVALID m_axis_tvalid
        TREADY m_axis_tready
    }
    # name mode bus-definition {logical physical ...} {bus parameter value ...}
    variable BUS_INTERFACES {
        {s_axi_ctrl slave  xilinx.com:interface:aximm:1.0  AXIL_PORT_MAP {}}
        {s_axis     slave  xilinx.com:interface:axis:1.0   S_AXIS_PORT_MAP {}}
        {m_axis     master xilinx.com:interface:axis:1.0   M_AXIS_PORT_MAP {}}
        {aclk       slave  xilinx.com:signal:clock:1.0     {CLK aclk} {}}
        {aresetn    slave  xilinx.com:signal:reset:1.0     {RST aresetn} {POLARITY ACTIVE_LOW}}
        {interrupt  master xilinx.com:signal:interrupt:1.0 {INTERRUPT interrupt} {SENSITIVITY LEVEL_HIGH}}
    }
    # Buses clocked by aclk and reset by aresetn (ASSOCIATED_BUSIF/_RESET).
    variable CLOCKED_BUSES {s_axi_ctrl s_axis m_axis}
    variable CLOCK_PORT aclk
    variable RESET_PORT aresetn
}

# Port map of one bus interface entry: a {logical physical} list, given inline
# or as the name of one of the *_PORT_MAP variables above.
proc mnist::port_map_of {spec} {
    variable AXIL_PORT_MAP
    variable S_AXIS_PORT_MAP
    variable M_AXIS_PORT_MAP
    if {[llength $spec] == 1} {
        return [set $spec]
    }
    return $spec
}

# Every physical port name the packaging maps, in declaration order.
proc mnist::mapped_ports {} {
    variable BUS_INTERFACES
    set ports {}
    foreach bif $BUS_INTERFACES {
        foreach {logical physical} [port_map_of [lindex $bif 3]] {
            lappend ports $physical
        }
    }
    return $ports
}

proc mnist::msg {level text} {
    puts "${level}: \[mnist\] $text"
}

# ACCESS is optional in IP-XACT, but pynq's .hwh parser reads it on every
# register and field and fails without it: a Vivado that cannot set it must
# stop the build rather than write a .hwh pynq cannot load.
proc mnist::set_access {access obj} {
    if {[lsearch -exact -nocase [list_property $obj] ACCESS] < 0} {
        error "$obj has no ACCESS property in Vivado [version -short]; pynq's .hwh\
               parser needs ACCESS on every register and field"
    }
    set_property ACCESS $access $obj
}

# Replace whatever ipx::package_project inferred with the declared interfaces.
proc mnist::add_bus_interfaces {core} {
    variable BUS_INTERFACES
    variable CLOCKED_BUSES
    variable CLOCK_PORT
    variable RESET_PORT
    foreach bif [ipx::get_bus_interfaces -quiet -of_objects $core] {
        ipx::remove_bus_interface [get_property NAME $bif] $core
    }
    foreach entry $BUS_INTERFACES {
        lassign $entry name mode bus_vlnv map_spec params
        # xilinx.com:interface:aximm:1.0 -> abstraction xilinx.com:interface:aximm_rtl:1.0
        lassign [split $bus_vlnv :] vendor library bus_name version
        set bif [ipx::add_bus_interface $name $core]
        set_property ABSTRACTION_TYPE_VLNV "$vendor:$library:${bus_name}_rtl:$version" $bif
        set_property BUS_TYPE_VLNV $bus_vlnv $bif
        set_property INTERFACE_MODE $mode $bif
        foreach {logical physical} [port_map_of $map_spec] {
            if {[llength [ipx::get_ports -quiet $physical -of_objects $core]] == 0} {
                error "port $physical (bus interface $name, $logical) is not a port of\
                       the packaged top; hw/rtl and overlay/package_ip.tcl disagree"
            }
            set pm [ipx::add_port_map $logical $bif]
            set_property PHYSICAL_NAME $physical $pm
        }
        foreach {param value} $params {
            set bp [ipx::add_bus_parameter $param $bif]
            set_property VALUE $value $bp
        }
    }
    foreach name $CLOCKED_BUSES {
        ipx::associate_bus_interfaces -busif $name -clock $CLOCK_PORT $core
    }
    ipx::associate_bus_interfaces -clock $CLOCK_PORT -reset $RESET_PORT $core
}

# One address block spanning registers and weight window, with the register
# list of regmap.py so that the .hwh carries it (pynq's register_map).
proc mnist::add_memory_map {core} {
    variable ACCEL_CTRL_INTERFACE
    variable ACCEL_ADDRESS_BLOCK
    variable ACCEL_RANGE
    variable AXIL_DATA_WIDTH
    variable REGISTERS
    foreach mm [ipx::get_memory_maps -quiet -of_objects $core] {
        ipx::remove_memory_map [get_property NAME $mm] $core
    }
    set mm [ipx::add_memory_map $ACCEL_CTRL_INTERFACE $core]
    set_property SLAVE_MEMORY_MAP_REF $ACCEL_CTRL_INTERFACE \
        [ipx::get_bus_interfaces $ACCEL_CTRL_INTERFACE -of_objects $core]
    set block [ipx::add_address_block $ACCEL_ADDRESS_BLOCK $mm]
    set_property BASE_ADDRESS 0 $block
    set_property RANGE [expr {$ACCEL_RANGE}] $block
    set_property WIDTH $AXIL_DATA_WIDTH $block
    set_property USAGE register $block
    set_property ACCESS read-write $block
    foreach reg $REGISTERS {
        lassign $reg name offset size access description fields
        set r [ipx::add_register $name $block]
        set_property ADDRESS_OFFSET $offset $r
        set_property SIZE $size $r
        set_access $access $r
        set_property DESCRIPTION $description $r
        foreach field $fields {
            lassign $field fname lsb width faccess fdescription
            set f [ipx::add_field $fname $r]
            set_property BIT_OFFSET $lsb $f
            set_property BIT_WIDTH $width $f
            set_access $faccess $f
            set_property DESCRIPTION $fdescription $f
        }
    }
}

proc mnist::add_num_banks_parameter {core} {
    variable NUM_BANKS_SUPPORTED
    variable NUM_BANKS_DEFAULT
    set p [ipx::get_user_parameters -quiet NUM_BANKS -of_objects $core]
    if {[llength $p] == 0} {
        error "mnist_top has no parameter NUM_BANKS; ipx::package_project found none"
    }
    set_property DISPLAY_NAME {Weight banks / MAC lanes} $p
    set_property DESCRIPTION {NUM_BANKS: must divide 128 (32, 64 or 128)} $p
    set_property VALUE_VALIDATION_TYPE list $p
    set_property VALUE_VALIDATION_LIST $NUM_BANKS_SUPPORTED $p
    set_property VALUE $NUM_BANKS_DEFAULT $p
    set_property VALUE $NUM_BANKS_DEFAULT [ipx::get_hdl_parameters NUM_BANKS -of_objects $core]
}

# Package rtl_dir (all *.v and *.vh) as $VLNV into ip_repo/<name>_<version>.
# Returns the IP directory. Uses a throw-away project in work_dir.
proc mnist::package_ip {rtl_dir ip_repo work_dir part} {
    variable FAMILIES
    variable VLNV
    variable TOP_MODULE
    lassign [split $VLNV :] vendor library name version
    set ip_dir [file join $ip_repo "${name}_[string map {. _} $version]"]
    set sources [lsort [glob -nocomplain -directory $rtl_dir *.v]]
    set headers [lsort [glob -nocomplain -directory $rtl_dir *.vh]]
    if {[llength $sources] == 0} {
        error "no Verilog sources (*.v) in $rtl_dir"
    }
    file delete -force $ip_dir
    file mkdir $ip_repo
    create_project -force mnist_ip_pkg $work_dir -part $part
    add_files -norecurse $sources
    if {[llength $headers] > 0} {
        add_files -norecurse $headers
        set_property FILE_TYPE {Verilog Header} [get_files $headers]
    }
    set_property TOP $TOP_MODULE [current_fileset]
    update_compile_order -fileset sources_1

    ipx::package_project -root_dir $ip_dir -vendor $vendor -library $library \
        -taxonomy /UserIP -import_files -set_current true -force
    set core [ipx::current_core]
    set_property VENDOR $vendor $core
    set_property LIBRARY $library $core
    set_property NAME $name $core
    set_property VERSION $version $core
    set_property DISPLAY_NAME {pynq-mnist int8 MLP 784-128-10 accelerator} $core
    set_property DESCRIPTION {AXI4-Lite control and weight window, AXI4-Stream images in, results out} $core
    set_property VENDOR_DISPLAY_NAME pynq-mnist $core
    # Every PS family of config.tcl: the IP catalog hides an IP from a part of
    # any other family (zynq: Zynq-7000, zynquplus: Zynq UltraScale+ and Kria).
    set families {}
    dict for {name family} $FAMILIES {
        lappend families [dict get $family arch] Production
    }
    set_property SUPPORTED_FAMILIES $families $core
    # Fixed, so that rebuilding unchanged sources gives an identical component.xml.
    set_property CORE_REVISION 1 $core

    add_bus_interfaces $core
    add_memory_map $core
    add_num_banks_parameter $core

    ipx::create_xgui_files $core
    ipx::update_checksums $core
    ipx::check_integrity $core
    ipx::save_core $core
    close_project
    msg INFO "packaged $VLNV into $ip_dir"
    return $ip_dir
}
