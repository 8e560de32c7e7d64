# Stub Vivado commands: each records a normalized entry in ::stub_log.
set ::stub_log {}
set ::stub_cells {}
set ::stub_assign {}
set ::stub_bifs {}
set ::stub_fclk ""
proc rec {args} { lappend ::stub_log $args }
proc opt {argsvar name {default ""}} {
    upvar $argsvar a
    set i [lsearch -exact $a $name]
    if {$i < 0} { return $default }
    set v [lindex $a [expr {$i + 1}]]
    set a [lreplace $a $i [expr {$i + 1}]]
    return $v
}
proc flags {argsvar names} {
    upvar $argsvar a
    foreach n $names { set a [lsearch -all -inline -not -exact $a $n] }
}
proc version {args} { return $::stub_version }
proc set_param {name value} { rec set_param $name $value; set ::stub_params($name) $value }
proc get_param {name} {
    if {[info exists ::stub_params($name)]} { return $::stub_params($name) }
    return ""
}
proc get_board_parts {args} {
    flags args {-quiet}
    rec get_board_parts {*}$args
    set out {}
    foreach p $::stub_board_parts { if {[string match [lindex $args 0] $p]} { lappend out $p } }
    return $out
}
proc create_project {args} { rec create_project {*}$args; return [lindex $args end-1] }
proc close_project {args} { rec close_project }
proc current_project {args} { return project }
proc current_fileset {args} { return sources_1 }
proc update_ip_catalog {args} { rec update_ip_catalog }
proc update_compile_order {args} {}
proc add_files {args} { rec add_files {*}$args }
proc get_files {args} {
    flags args {-quiet -all}
    if {[string match *.bd [lindex $args 0]]} { return [lindex $args 0] }
    return ""
}
proc set_property {args} {
    set d [opt args -dict]
    if {$d ne ""} {
        foreach {k v} $d { rec set_property [lindex $args 0] $k $v }
        # The PL clock asked of the PS7 / zynq_ultra_ps_e wizard.
        foreach key {PCW_FPGA0_PERIPHERAL_FREQMHZ PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ} {
            if {[dict exists $d CONFIG.$key]} { set ::stub_fclk [dict get $d CONFIG.$key] }
        }
        return
    }
    lassign $args k v obj
    rec set_property $obj $k $v
}
proc list_property {obj} { return $::stub_properties }
proc get_property {name obj} {
    switch -glob -- $name {
        NAME { if {[string match *:* $obj]} { return [lindex [split $obj :] end] }
               return [file tail $obj] }
        PROGRESS { return 100% }
        STATUS { return $::stub_run_status }
        SLACK { return $::stub_slack }
        DIRECTORY { return $::stub_run_dir }
        CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ -
        CONFIG.PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ {
            if {$::stub_act_fclk ne ""} { return $::stub_act_fclk }
            return $::stub_fclk
        }
        OFFSET { return [lindex [dict get $::stub_assign $obj] 1] }
        RANGE { return [expr {[lindex [dict get $::stub_assign $obj] 2] / 1024}]K }
        default { error "stub get_property: unexpected $name of $obj" }
    }
}
# --- ipx ---
proc ipx::package_project {args} { rec ipx::package_project {*}$args }
proc ipx::current_core {} { return core }
proc ipx::get_bus_interfaces {args} {
    flags args {-quiet}
    set of [opt args -of_objects]
    if {[llength $args] == 0} { return $::stub_inferred }
    return bif:[lindex $args 0]
}
proc ipx::remove_bus_interface {name core} {
    rec ipx::remove_bus_interface $name
    set ::stub_inferred [lsearch -all -inline -not -exact $::stub_inferred bif:$name]
}
proc ipx::add_bus_interface {name core} {
    rec ipx::add_bus_interface $name
    dict lappend ::stub_pins $::mnist::VLNV $name
    return bif:$name
}
proc ipx::get_ports {args} {
    flags args {-quiet}
    set of [opt args -of_objects]
    set p [lindex $args 0]
    if {$::stub_rtl_ports eq "*" || $p in $::stub_rtl_ports} { return port:$p }
    return ""
}
proc ipx::add_port_map {logical bif} {
    rec ipx::add_port_map $bif $logical
    return pm:$bif:$logical
}
proc ipx::add_bus_parameter {name bif} { return bp:$bif:$name }
proc ipx::associate_bus_interfaces {args} {
    set busif [opt args -busif]
    set clock [opt args -clock]
    set reset [opt args -reset]
    rec ipx::associate_bus_interfaces $busif $clock $reset
}
proc ipx::get_memory_maps {args} { return $::stub_inferred_mm }
proc ipx::remove_memory_map {name core} {
    rec ipx::remove_memory_map $name
    set ::stub_inferred_mm {}
}
proc ipx::add_memory_map {name core} { rec ipx::add_memory_map $name; return mm:$name }
proc ipx::add_address_block {name mm} {
    rec ipx::add_address_block $mm $name
    dict lappend ::stub_segs $::mnist::VLNV [string range $mm 3 end]/$name
    return ab:$name
}
proc ipx::add_register {name block} { rec ipx::add_register $block $name; return reg:$name }
proc ipx::add_field {name reg} { rec ipx::add_field $reg $name; return field:$reg/$name }
proc ipx::get_user_parameters {args} {
    flags args {-quiet}
    set of [opt args -of_objects]
    if {[lindex $args 0] eq "NUM_BANKS" && $::stub_has_num_banks} {
        return user_parameter:NUM_BANKS
    }
    return ""
}
proc ipx::get_hdl_parameters {args} { return hdl_parameter:[lindex $args 0] }
foreach c {create_xgui_files update_checksums check_integrity save_core} {
    proc ipx::$c {args} [list rec ipx::$c]
}
# --- block design ---
# The IP catalog: every VLNV the stub knows pins of, less ::stub_missing_ipdefs,
# plus ::stub_other_ipdefs; name patterns as string match reads them.
proc get_ipdefs {args} {
    flags args {-all -quiet}
    set catalog [concat [dict keys $::stub_pins] $::stub_other_ipdefs]
    set out {}
    foreach vlnv $catalog {
        if {$vlnv ni $::stub_missing_ipdefs && [string match [lindex $args 0] $vlnv]} {
            lappend out $vlnv
        }
    }
    return $out
}
proc create_bd_design {name} { rec create_bd_design $name }
proc create_bd_cell {args} {
    set vlnv [opt args -vlnv]
    set type [opt args -type]
    set name [lindex $args 0]
    dict set ::stub_cells $name $vlnv
    rec create_bd_cell $name $vlnv
    return $name
}
proc check_pin {path} {
    lassign [split $path /] cell pin
    if {![dict exists $::stub_cells $cell]} { error "stub: no cell '$cell' for pin $path" }
    set vlnv [dict get $::stub_cells $cell]
    if {[dict exists $::stub_pins $vlnv] && $pin ni [dict get $::stub_pins $vlnv]} {
        error "stub: $vlnv has no pin '$pin' ($path)"
    }
    return $path
}
proc get_bd_pins {path} { return [check_pin $path] }
proc get_bd_intf_pins {path} { return [check_pin $path] }
proc get_bd_cells {path} { return $path }
proc apply_bd_automation {args} {
    set rule [opt args -rule]
    set config [opt args -config]
    foreach {k v} $config { rec apply_bd_automation $rule [lindex $args 0] $k $v }
}
proc connect_bd_intf_net {a b} { rec connect_bd_intf_net $a $b }
proc connect_bd_net {args} { rec connect_bd_net {*}$args }
proc get_bd_addr_spaces {path} { check_pin $path; return $path }
proc get_bd_addr_segs {args} {
    set quiet [expr {"-quiet" in $args}]
    flags args {-quiet}
    if {$quiet} {
        if {[catch {get_bd_addr_segs {*}$args} found]} { return "" }
        return $found
    }
    set of [opt args -of_objects]
    if {$of eq ""} {
        set path [lindex $args 0]
        set cell [lindex [split $path /] 0]
        if {![dict exists $::stub_cells $cell]} { error "stub: no cell '$cell'" }
        set vlnv [dict get $::stub_cells $cell]
        set seg [join [lrange [split $path /] 1 end] /]
        if {![dict exists $::stub_segs $vlnv] || $seg ni [dict get $::stub_segs $vlnv]} {
            error "stub: $vlnv has no address segment '$seg' ($path)"
        }
        return $path
    }
    if {[dict exists $::stub_assign $of]} { return /[lindex [dict get $::stub_assign $of] 0] }
    set out {}
    dict for {seg v} $::stub_assign { if {[string match $of/* $seg]} { lappend out $seg } }
    return $out
}
proc assign_bd_address {args} {
    set offset [opt args -offset]
    set range [opt args -range]
    set space [opt args -target_address_space]
    flags args {-force}
    set slave [lindex $args 0]
    lassign [split $slave /] cell intf block
    set seg $space/SEG_${cell}_$block
    dict set ::stub_assign $seg [list $slave [format 0x%08X $offset] [expr {$range}]]
    rec assign_bd_address $space $slave $offset $range
}
proc validate_bd_design {args} { rec validate_bd_design }
proc save_bd_design {args} { rec save_bd_design }
proc generate_target {args} { rec generate_target {*}$args }
proc make_wrapper {args} {
    rec make_wrapper {*}$args
    return $::stub_proj_dir/mnist.gen/sources_1/bd/mnist/hdl/mnist_wrapper.v
}
proc get_runs {name} { return $name }
proc launch_runs {args} { rec launch_runs {*}$args }
proc wait_on_run {args} { rec wait_on_run {*}$args }
proc open_run {args} { rec open_run {*}$args }
proc report_timing_summary {args} {
    set file [opt args -file]
    rec report_timing_summary $file
    set f [open $file w]
    puts $f $::stub_timing_summary
    close $f
}
proc report_utilization {args} { rec report_utilization }
proc get_timing_paths {args} { return $::stub_paths }
